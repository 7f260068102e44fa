"""Connection authentication: a pluggable authenticator that returns a `User`, or ``None`` for no credential.

An authenticator is any ``async (auth, environ) -> User | None`` callable.
Returning ``None`` means "no credential presented" (refused unless anonymous
connections are allowed); raising `AuthenticationError` means "a credential was
presented and is bad" (always refused).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from http.cookies import CookieError, SimpleCookie
from typing import Any, Protocol

import jwt

from eventbus.exceptions import AuthenticationError, ConfigurationError
from eventbus.observability.logfields import library_logger
from events import User
from events.rooms import key_problem

logger = library_logger(__name__)

SYMMETRIC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class Authenticator(Protocol):
    """Turns the Socket.IO ``auth`` payload and the WSGI-style ``environ`` into a user."""

    async def __call__(self, auth: Any, environ: Mapping[str, Any]) -> User | None: ...


def bearer_token(auth: Any, environ: Mapping[str, Any], cookie: str | None = None) -> str | None:
    """The token from ``auth={"token": ...}``, else ``Authorization: Bearer``, else the named cookie.

    Example:
        >>> bearer_token({"token": "abc"}, {})
        'abc'
        >>> bearer_token(None, {"HTTP_AUTHORIZATION": "Bearer xyz"})
        'xyz'
    """
    if isinstance(auth, Mapping):
        token = auth.get("token")
        if isinstance(token, str) and token:
            return token
    header = environ.get("HTTP_AUTHORIZATION")
    if isinstance(header, str):
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if cookie is not None and isinstance(environ.get("HTTP_COOKIE"), str):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(environ["HTTP_COOKIE"])
        except CookieError:
            return None
        morsel = jar.get(cookie)
        if morsel is not None and morsel.value:
            return morsel.value
    return None


class JWTAuth:
    """Verify a JWT and turn its user-id claim into a `User`.

    HS256/384/512 take ``secret``; RS*, PS*, ES* and EdDSA take ``public_key``
    (PEM). Algorithms are always explicit (``none`` is never accepted) and
    ``exp`` is required.

    Example:
        >>> auth = JWTAuth(secret="a-long-random-secret-of-32-bytes-or-more", algorithms=["HS256"], audience="chat")
        >>> token = auth.issue("42", ttl=60, audience="chat")
        >>> auth.verify(token).id
        '42'
    """

    def __init__(
        self,
        secret: str | None = None,
        *,
        public_key: str | None = None,
        algorithms: Sequence[str] = ("HS256",),
        audience: str | Iterable[str] | None = None,
        issuer: str | None = None,
        user_id_claim: str = "sub",
        leeway: float = 0,
        cookie: str | None = None,
    ) -> None:
        self.algorithms = _checked_algorithms(algorithms, secret=secret, public_key=public_key)
        self._secret = secret
        self._public_key = public_key
        self.audience = audience if audience is None or isinstance(audience, str) else list(audience)
        self.issuer = issuer
        self.user_id_claim = user_id_claim
        self.leeway = leeway
        self.cookie = cookie

    def __repr__(self) -> str:
        return f"JWTAuth(algorithms={self.algorithms!r}, audience={self.audience!r}, issuer={self.issuer!r})"

    async def __call__(self, auth: Any, environ: Mapping[str, Any]) -> User | None:
        token = bearer_token(auth, environ, self.cookie)
        return None if token is None else self.verify(token)

    def verify(self, token: str) -> User:
        """Decode and check ``token``; raise `AuthenticationError` saying why when it is not acceptable."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm not in self.algorithms:
                raise AuthenticationError(f"token algorithm {algorithm!r} is not one of {self.algorithms}")
            claims: dict[str, Any] = jwt.decode(
                token,
                key=self._key_for(algorithm),
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from exc
        user_id = claims.get(self.user_id_claim)
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or key_problem(user_id) is not None:
            raise AuthenticationError(f"token claim {self.user_id_claim!r} is missing or not a usable user id")
        return User(id=user_id, claims=claims)

    def issue(self, user_id: str, *, ttl: float = 3600, audience: str | None = None, **claims: Any) -> str:
        """Mint a token for ``user_id`` signed with the secret (development and tests; HS* only)."""
        algorithm = next((a for a in self.algorithms if a in SYMMETRIC_ALGORITHMS), None)
        if algorithm is None or self._secret is None:
            raise ConfigurationError("issue() needs a secret and an HS256/384/512 algorithm")
        now = int(time.time())
        payload: dict[str, Any] = {self.user_id_claim: user_id, "iat": now, "exp": now + int(ttl), **claims}
        if audience is not None:
            payload["aud"] = audience
        if self.issuer is not None:
            payload.setdefault("iss", self.issuer)
        return jwt.encode(payload, self._secret, algorithm=algorithm)

    def _key_for(self, algorithm: str) -> str:
        key = self._secret if algorithm in SYMMETRIC_ALGORITHMS else self._public_key
        if key is None:  # _checked_algorithms makes this unreachable; kept as a guard against later edits
            raise AuthenticationError(f"no key configured for {algorithm}")
        return key


def _checked_algorithms(algorithms: Sequence[str], *, secret: str | None, public_key: str | None) -> list[str]:
    chosen = [algorithms] if isinstance(algorithms, str) else list(algorithms)
    if not chosen:
        raise ConfigurationError("JWTAuth needs at least one algorithm, e.g. algorithms=['HS256']")
    unknown = [a for a in chosen if a not in SYMMETRIC_ALGORITHMS | ASYMMETRIC_ALGORITHMS]
    if unknown:
        raise ConfigurationError(
            f"JWTAuth algorithms {unknown} are not supported ('none' never is); "
            f"expected some of {sorted(SYMMETRIC_ALGORITHMS | ASYMMETRIC_ALGORITHMS)}"
        )
    if any(a in SYMMETRIC_ALGORITHMS for a in chosen) and not secret:
        raise ConfigurationError("JWTAuth with an HS* algorithm needs secret=... (or EVENTBUS_JWT_SECRET)")
    if any(a in ASYMMETRIC_ALGORITHMS for a in chosen) and not public_key:
        raise ConfigurationError(
            "JWTAuth with an RS*/PS*/ES*/EdDSA algorithm needs public_key=... (PEM; or EVENTBUS_JWT_PUBLIC_KEY)"
        )
    return chosen

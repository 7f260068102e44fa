// Validates AsyncAPI documents with the reference parser: `node check_asyncapi.mjs FILE...`.
// Prints {"file": ..., "errors": [...], "warnings": [...]} per file as JSON lines; exits 1 when any has errors.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"));
  const describe = (d) => ({ code: d.code, message: d.message, path: d.path.join("/") });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map(describe);
  const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning).map(describe);
  if (document === undefined && errors.length === 0) errors.push({ code: "unparsed", message: "no document", path: "" });
  failed ||= errors.length > 0;
  process.stdout.write(JSON.stringify({ file, errors, warnings }) + "\n");
}
process.exit(failed ? 1 : 0);

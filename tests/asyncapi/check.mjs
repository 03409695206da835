// check.mjs SPEC [FRAMES.jsonl]: SPEC is a valid AsyncAPI document (no errors, no warnings),
// and each recorded frame ({"dir": "in"|"out", "frame": {...}} per line) matches the message
// its `type` names, in the direction it travelled. Prints one JSON line.
import { readFileSync } from 'node:fs';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const [spec, frames] = process.argv.slice(2);
const { document, diagnostics } = await new Parser().parse(readFileSync(spec, 'utf8'));
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning);
if (!document || errors.length) {
  console.log(JSON.stringify({ valid: false, errors: errors.map((e) => `${e.path?.join('.')}: ${e.message}`) }));
  process.exit(1);
}
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
// Direction per operation: the server receives client frames and sends server frames.
const byDirection = { out: new Map(), in: new Map() };
for (const operation of document.operations().all()) {
  const dir = operation.action() === 'receive' ? 'out' : 'in';
  for (const message of operation.messages().all()) {
    const schema = message.payload().json();
    byDirection[dir].set(schema.properties.type.const, ajv.compile(schema));
  }
}
const invalid = [];
let checked = 0;
for (const line of (frames ? readFileSync(frames, 'utf8').split('\n') : []).filter(Boolean)) {
  const { dir, frame } = JSON.parse(line);
  const validate = byDirection[dir].get(frame.type);
  checked += 1;
  if (!validate) {
    invalid.push({ dir, type: frame.type, problem: 'no such message' });
  } else if (!validate(frame)) {
    invalid.push({ dir, type: frame.type, problem: ajv.errorsText(validate.errors) });
  }
}
console.log(JSON.stringify({
  valid: true,
  client_messages: byDirection.out.size,
  server_messages: byDirection.in.size,
  warnings: warnings.map((w) => `${w.code}: ${w.message}`),
  checked,
  invalid,
}));
process.exit(invalid.length || warnings.length ? 1 : 0);

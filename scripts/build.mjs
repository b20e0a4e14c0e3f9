// Build: compile nodes/**/*.ts to dist/nodes (CommonJS), then put every file Node-RED looks up next to the
// compiled node set files (editor .html, icons/, locales/), and generate the shipped JSON Schema of the event.
// Node-RED resolves help, catalogs and icons relative to each node set's .js file, so top-level icons/ and
// locales/ are sources only (see ../shared/research/nodered.md, section 0).
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const require = createRequire(import.meta.url);

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(root, "tsconfig.json")], {
  stdio: "inherit",
  cwd: root,
});

const nodesOut = join(dist, "nodes");
for (const file of readdirSync(join(root, "nodes"))) {
  if (file.endsWith(".html")) cpSync(join(root, "nodes", file), join(nodesOut, file));
}
for (const folder of ["icons", "locales"]) {
  if (existsSync(join(root, folder))) cpSync(join(root, folder), join(nodesOut, folder), { recursive: true });
}

const { doorEventJsonSchema } = require(join(nodesOut, "core", "door-event-schema.js"));
mkdirSync(join(dist, "schema"), { recursive: true });
writeFileSync(join(dist, "schema", "door-event.schema.json"), JSON.stringify(doorEventJsonSchema(), null, 2) + "\n");
console.log("build: dist/nodes and dist/schema written");

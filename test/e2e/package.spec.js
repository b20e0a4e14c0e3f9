"use strict";
// Offline copy of the Flow Library scorecard (`node-red-dev validate`, which needs the internet) plus the
// layout rules Node-RED applies when it loads a package (../shared/research/nodered.md, sections 0-2).
// Runs against dist/ as built by `npm run build`, which `npm test` runs before mocha.
const should = require("should");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const semver = require("semver");
const { npmCommand } = require("../helpers/npm");

const root = path.resolve(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const nodeSets = Object.entries((pkg["node-red"] && pkg["node-red"].nodes) || {});

// The scorecard only sees literal registerType('type', { ... }) calls inside text/javascript blocks.
function editorDefinitions(html) {
  const defs = [];
  const scripts = /<script\b[^>]*\btype\s*=\s*["']text\/javascript["'][^>]*>([\s\S]*?)<\/script>/gi;
  for (const [, code] of html.matchAll(scripts)) {
    const calls = [...code.matchAll(/RED\.nodes\.registerType\(\s*(['"])([^'"]+)\1\s*,\s*\{/g)];
    calls.forEach((m, i) => {
      // The definition object runs until the next registerType call (or the end of the block).
      const body = code.slice(m.index, i + 1 < calls.length ? calls[i + 1].index : code.length);
      defs.push({ type: m[2], config: /\bcategory\s*:\s*(['"])config\1/.test(body) });
    });
  }
  return defs;
}

function listJson(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".json"))
    .map((e) => path.join(e.parentPath ?? e.path, e.name));
}

describe("package (offline scorecard)", function () {
  describe("package.json", function () {
    it("has license, repository and bugs (P01, P03)", function () {
      pkg.should.have.property("license").which.is.a.String().and.not.empty();
      pkg.should.have.property("repository");
      pkg.should.have.property("bugs");
    });

    it("is scoped @smartlocks/node-red-smartlocks (P04)", function () {
      pkg.name.should.equal("@smartlocks/node-red-smartlocks");
    });

    it("has the keyword node-red (P05)", function () {
      pkg.keywords.should.containEql("node-red");
    });

    it("engines.node admits Node 20 and Node-RED 5's minimum Node 22.9.0, nothing older than 20 (P07)", function () {
      const range = pkg.engines && pkg.engines.node;
      should(semver.validRange(range)).not.be.null();
      semver.satisfies(semver.minVersion(range), ">=20").should.be.true();
      semver.intersects(range, ">=20.0.0 <21").should.be.true();
      semver.satisfies("22.9.0", range).should.be.true();
    });

    it("node-red.version is >=4.0.0 and admits Node-RED 5 (P06)", function () {
      const range = pkg["node-red"].version;
      semver.minVersion(range).version.should.equal("4.0.0");
      semver.satisfies("5.0.0", range).should.be.true();
    });

    it("has at most 6 dependencies and no Node-RED among them (D01)", function () {
      const deps = Object.keys(pkg.dependencies || {});
      deps.length.should.be.belowOrEqual(6);
      const peers = Object.keys(pkg.peerDependencies || {});
      for (const dep of [...deps, ...peers]) dep.should.not.match(/^(node-red|@node-red\/.*)$/);
    });
  });

  describe("node sets in dist", function () {
    it("lists at least one node set, each a .js file", function () {
      nodeSets.length.should.be.above(0);
      // The scorecard finds the .html with .replace(".js", ".html"), which misses .cjs.
      for (const [, file] of nodeSets) file.should.match(/\.js$/);
    });

    for (const [set, file] of nodeSets) {
      it(`${set}: ${file} and its .html exist`, function () {
        fs.existsSync(path.join(root, file)).should.be.true(`${file} is missing (did the build run?)`);
        const html = file.replace(/\.js$/, ".html");
        fs.existsSync(path.join(root, html)).should.be.true(`${html} is missing`);
      });

      it(`${set}: the .html registers its types with literal registerType calls (N01/N02 parse)`, function () {
        const html = fs.readFileSync(path.join(root, file.replace(/\.js$/, ".html")), "utf8");
        editorDefinitions(html).length.should.be.above(0);
      });
    }

    it("type names are unique across node sets", function () {
      const types = nodeSets.flatMap(([, file]) => {
        const html = path.join(root, file.replace(/\.js$/, ".html"));
        return fs.existsSync(html) ? editorDefinitions(fs.readFileSync(html, "utf8")).map((d) => d.type) : [];
      });
      types.length.should.equal(new Set(types).size);
    });
  });

  describe("examples", function () {
    it("every examples/**/*.json is a flow array, and together they use every non-config type (N02)", function () {
      const files = listJson(path.join(root, "examples"));
      files.length.should.be.above(0, "examples/ has no .json flow");
      const used = new Set();
      for (const file of files) {
        const flow = JSON.parse(fs.readFileSync(file, "utf8"));
        Array.isArray(flow).should.be.true(`${path.relative(root, file)} is not a JSON array`);
        for (const n of flow) used.add(n.type);
      }
      const needed = nodeSets.flatMap(([, file]) => {
        const html = path.join(root, file.replace(/\.js$/, ".html"));
        if (!fs.existsSync(html)) return [];
        return editorDefinitions(fs.readFileSync(html, "utf8")).filter((d) => !d.config).map((d) => d.type);
      });
      needed.length.should.be.above(0);
      needed.filter((t) => !used.has(t)).should.eql([], "types without an example flow");
    });
  });

  describe("npm pack contents", function () {
    let files;
    before(function () {
      this.timeout(60000);
      // --ignore-scripts: prepack would rebuild dist/ under the running tests.
      const [file, argv] = npmCommand(["pack", "--dry-run", "--ignore-scripts", "--json"]);
      const out = execFileSync(file, argv, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      files = JSON.parse(out)[0].files.map((f) => f.path);
    });

    const has = (re) => files.some((f) => re.test(f));

    it("ships the compiled node sets, editor html, icons and en-US locales", function () {
      for (const [, file] of nodeSets) files.should.containEql(file);
      has(/^dist\/nodes\/[^/]+\.js$/).should.be.true("no dist/nodes/*.js");
      has(/^dist\/nodes\/[^/]+\.html$/).should.be.true("no dist/nodes/*.html");
      has(/^dist\/nodes\/icons\/[^/]+$/).should.be.true("no dist/nodes/icons/*");
      has(/^dist\/nodes\/locales\/en-US\/[^/]+$/).should.be.true("no dist/nodes/locales/en-US/*");
    });

    it("ships the event schema, examples, README.md and LICENSE", function () {
      files.should.containEql("dist/schema/door-event.schema.json");
      has(/^examples\/.+\.json$/).should.be.true("no examples/*.json");
      files.should.containEql("README.md");
      files.should.containEql("LICENSE");
    });

    it("ships no tests, scripts, TypeScript sources, CI files or node_modules", function () {
      files.filter((f) => /^(test|scripts|nodes|\.ci|node_modules)\//.test(f) || /(?<!\.d)\.ts$/.test(f))
        .should.eql([]);
    });
  });
});

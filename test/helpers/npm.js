"use strict";
// The npm to call from tests. Inside `npm test`, "npm" on PATH is node_modules/.bin/npm (an older copy
// that Node-RED depends on), not the npm running the tests; npm_execpath names the latter (npx sets it
// too). Without it (mocha started directly) the PATH's npm is all there is.
function npmCommand(args) {
  const cli = process.env.npm_execpath && process.env.npm_execpath.replace(/npx-cli\.js$/, "npm-cli.js");
  if (cli && /npm-cli\.js$/.test(cli)) return [process.execPath, [cli, ...args]];
  return ["npm", args];
}

module.exports = { npmCommand };

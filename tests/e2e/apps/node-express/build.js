// The build step: writes what the server shows, proving `npm run build` ran with
// devDependencies installed (is-number is one).
const fs = require("fs");
const isNumber = require("is-number");
fs.writeFileSync("built.json", JSON.stringify({ builtWith: isNumber(42) ? "is-number" : "?" }));
console.log("build.js wrote built.json");

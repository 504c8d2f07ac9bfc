// A plain HTTP server: says which Node.js runs it and that its dependency is installed.
const http = require("http");
const isNumber = require("is-number");

http
  .createServer((req, res) => {
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ node: process.version, isNumber: isNumber(7), app: process.env.APP_KIND }));
  })
  .listen(process.env.PORT);

const express = require("express");
const fs = require("fs");

const app = express();
app.get("/", (req, res) => {
  let devDependencyPresent = true;
  try {
    require.resolve("is-number/package.json", { paths: [__dirname] });
  } catch (e) {
    devDependencyPresent = false;
  }
  res.json({
    node: process.version,
    nodeEnv: process.env.NODE_ENV,
    webConcurrency: process.env.WEB_CONCURRENCY,
    built: JSON.parse(fs.readFileSync("built.json", "utf8")),
    devDependencyPresent,
  });
});
app.listen(process.env.PORT, () => console.log(`listening on ${process.env.PORT}`));

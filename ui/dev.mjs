// dev.mjs serves dist/ for development and proxies the API and the
// websocket to a running "weir serve", so the UI can be rebuilt without
// restarting the server. Not part of the build.
import http from "node:http";
import net from "node:net";
import { readFileSync, existsSync } from "node:fs";
import { join, extname } from "node:path";

const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".png": "image/png" };

export function serveDev(dist, target, port) {
  const t = new URL(target);
  const proxied = (p) => p.startsWith("/api/") || p === "/ws" || p === "/metrics";
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (proxied(path)) {
      const preq = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: { ...req.headers, host: t.host } }, (pres) => {
        res.writeHead(pres.statusCode, pres.headers);
        pres.pipe(res);
      });
      preq.on("error", (e) => { res.writeHead(502); res.end(String(e)); });
      req.pipe(preq);
      return;
    }
    let file = join(dist, path);
    if (path === "/" || !existsSync(file) || path.endsWith("/")) file = join(dist, "index.html");
    res.writeHead(200, { "content-type": types[extname(file)] || "application/octet-stream", "cache-control": "no-store" });
    res.end(readFileSync(file));
  });
  server.on("upgrade", (req, sock, head) => {
    const up = net.connect(Number(t.port), t.hostname, () => {
      const headers = Object.entries({ ...req.headers, host: t.host, origin: t.origin }).map(([k, v]) => `${k}: ${v}`).join("\r\n");
      up.write(`${req.method} ${req.url} HTTP/1.1\r\n${headers}\r\n\r\n`);
      up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    up.on("error", () => sock.destroy());
    sock.on("error", () => up.destroy());
  });
  server.listen(port, "127.0.0.1", () => console.log(`dev server on http://127.0.0.1:${port}/ → ${target}`));
}

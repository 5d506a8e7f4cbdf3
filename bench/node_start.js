// Node's own start time for a bot: spawn `node app.js` with PORT a Unix
// socket path, and time until the socket accepts a connection. Prints the
// median of N runs in ms. Usage: node bench/node_start.js CODE_DIR [N]
const { spawn } = require('child_process');
const net = require('net');
const os = require('os');
const path = require('path');
const fs = require('fs');

const dir = process.argv[2];
const runs = Number(process.argv[3] || 10);

function once() {
  return new Promise((resolve) => {
    const sock = path.join(os.tmpdir(), `node-start-${process.pid}-${Date.now()}.sock`);
    const start = process.hrtime.bigint();
    const child = spawn('node', ['app.js'], { cwd: dir, env: { PATH: process.env.PATH, PORT: sock }, stdio: 'ignore' });
    const poll = () => {
      const c = net.connect(sock);
      c.on('connect', () => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        c.destroy();
        child.kill('SIGKILL');
        fs.rmSync(sock, { force: true });
        resolve(ms);
      });
      c.on('error', () => setTimeout(poll, 1));
    };
    poll();
  });
}

(async () => {
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  times.sort((a, b) => a - b);
  console.log(times[Math.floor(times.length / 2)].toFixed(1));
})();

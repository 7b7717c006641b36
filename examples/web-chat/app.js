// The web chat example: one identity per tab, talking through a relay with the browser build of
// the client library (entropy-relay-client.js, written by `npm run build:browser`).
import {
  RelayClient,
  RelaySession,
  generateIdentity,
  identityFromJson,
  identityToJson,
} from './entropy-relay-client.js';

const $ = (id) => globalThis.document.getElementById(id);
const body = globalThis.document.body;
const params = new globalThis.URLSearchParams(globalThis.location.search);
$('relay').value = params.get('relay') ?? 'http://127.0.0.1:8080';

let session = null;

/** This tab's identity: from sessionStorage (same JSON as `entropy-relay client keygen`). */
function tabIdentity() {
  const saved = globalThis.sessionStorage.getItem('entropy-identity');
  if (saved) return identityFromJson(JSON.parse(saved));
  const identity = generateIdentity();
  globalThis.sessionStorage.setItem('entropy-identity', JSON.stringify(identityToJson(identity)));
  return identity;
}

function setStatus(text, state) {
  $('status').textContent = text;
  if (state) body.dataset.state = state;
}

function showPow({ attempts, elapsedMs, done }) {
  const rate = elapsedMs > 0 ? Math.round((attempts / elapsedMs) * 1000) : 0;
  $('pow').textContent = done
    ? `(proof of work: ${attempts} hashes, ${rate}/s)`
    : `(proof of work… ${attempts} hashes, ${rate}/s)`;
}

function addMessage(direction, text, note) {
  const li = globalThis.document.createElement('li');
  li.className = direction;
  li.textContent = note ? `${text} [${note}]` : text;
  $('messages').append(li);
  return li;
}

function onEnvelope(envelope) {
  let from = '?';
  let text = envelope;
  try {
    ({ from, text } = JSON.parse(envelope));
  } catch {
    // not this example's format: show it as it came
  }
  addMessage('in', text, `from ${String(from).slice(0, 8)}…`);
}

async function connect() {
  $('connect').disabled = true;
  const url = $('relay').value;
  try {
    const identity = tabIdentity();
    $('me').textContent = identity.identityHash;
    setStatus('uploading the key bundle…', 'uploading');
    const rest = new RelayClient({ url, onPowProgress: showPow });
    const uploaded = await rest.uploadBundle(identity);
    setStatus(`bundle stored (${uploaded.prekeys} prekeys); authenticating…`, 'authenticating');
    session = new RelaySession({ url, identity, onPowProgress: showPow });
    session.on('message', ({ envelope }) => onEnvelope(envelope));
    session.on('queued', ({ payload }) => {
      if (payload.type === 'msg') onEnvelope(String(payload.envelope));
    });
    session.on('reconnecting', ({ attempt }) => setStatus(`reconnecting (#${attempt})…`));
    session.on('authenticated', () => setStatus('connected', 'connected'));
    session.on('relayError', (err) => setStatus(`relay error: ${err.code}`));
    await session.connect();
    setStatus('connected', 'connected');
    $('send').disabled = false;
  } catch (err) {
    setStatus(`failed: ${err.code ?? ''} ${err.message}`, 'failed');
    $('connect').disabled = false;
  }
}

$('connect').addEventListener('click', connect);
$('compose').addEventListener('submit', async (event) => {
  event.preventDefault();
  const to = $('to').value.trim();
  const text = $('message').value;
  if (!session || !to || !text) return;
  $('message').value = '';
  const li = addMessage('out', text, 'sending');
  try {
    const envelope = JSON.stringify({ from: session.identity.identityHash, text });
    const status = await session.send(to, envelope);
    li.textContent = `${text} [${status.status}]`;
    li.dataset.status = status.status;
  } catch (err) {
    li.textContent = `${text} [error: ${err.code ?? err.message}]`;
    li.dataset.status = 'error';
  }
});

if (params.has('autoconnect')) connect();

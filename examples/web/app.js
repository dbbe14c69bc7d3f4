// The browser client of the watchdog example: the same protocol as examples/client.ts, over the
// websocket gate, where one binary message carries one msgpack array (no netpack header).
// msgpackr.js (msgpackr's own browser build) defines the global `msgpackr`.
/* global msgpackr */
"use strict";

const packr = new msgpackr.Packr({ useRecords: false });
const $ = (id) => document.getElementById(id);
const requestButtons = ["handshake", "set", "get", "quit"];

let ws;
let session = 0;
let heartbeats = 0;
/** session → { resolve, reject } of a request waiting for its answer */
const waiting = new Map();

function log(line) {
  const item = document.createElement("li");
  item.textContent = line;
  $("log").prepend(item);
  while ($("log").children.length > 100) $("log").lastElementChild.remove();
}

function setStatus(text, state) {
  $("status").textContent = text;
  $("status").dataset.state = state;
  for (const id of requestButtons) $(id).disabled = state !== "open";
  $("connect").disabled = state !== "closed";
}

/** ws://<this page's host>:<the websocket gate's port>/, or the page's ?ws= parameter. */
async function gateUrl() {
  const given = new URLSearchParams(location.search).get("ws");
  if (given) return given;
  const { wsport } = await (await fetch("config.json")).json();
  return `ws://${location.hostname}:${wsport}/`;
}

async function connect() {
  if (ws && ws.readyState <= WebSocket.OPEN) return;
  setStatus("connecting", "connecting");
  let url;
  try {
    url = await gateUrl();
  } catch (err) {
    setStatus(`cannot find the gate: ${err.message}`, "closed");
    return;
  }
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    setStatus(`connected to ${url}`, "open");
    log(`connected to ${url}`);
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") return log(`unexpected text message: ${event.data}`);
    let message;
    try {
      message = packr.unpack(new Uint8Array(event.data));
    } catch (err) {
      return log(`unreadable message: ${err.message}`);
    }
    if (!Array.isArray(message) || typeof message[0] !== "number") return log(`not a [session, ...] array: ${JSON.stringify(message)}`);
    onMessage(message);
  };
  ws.onclose = (event) => {
    const why = `closed (code ${event.code}${event.reason ? `: ${event.reason}` : ""})`;
    setStatus(why, "closed");
    log(why);
    for (const { reject } of waiting.values()) reject(new Error("the connection closed"));
    waiting.clear();
  };
  ws.onerror = () => log("websocket error (is the server running?)");
}

function onMessage([s, result, error]) {
  if (s === 0) {
    if (result === "heartbeat") $("heartbeats").textContent = String(++heartbeats);
    return log(`push ${result} ${JSON.stringify(error)}`);
  }
  const request = waiting.get(s);
  waiting.delete(s);
  if (error !== undefined) {
    log(`error #${s}: ${error}`);
    request?.reject(new Error(error));
  } else {
    log(`response #${s}: ${JSON.stringify(result)}`);
    request?.resolve(result);
  }
}

/** Sends [session, name, args]; resolves with the answer's result. */
function request(name, args) {
  const s = ++session;
  ws.send(packr.pack([s, name, args]));
  return new Promise((resolve, reject) => waiting.set(s, { resolve, reject }));
}

async function run(name, args) {
  try {
    $("result").textContent = JSON.stringify(await request(name, args));
  } catch (err) {
    $("result").textContent = `error: ${err.message}`;
  }
}

$("connect").onclick = connect;
$("handshake").onclick = () => run("handshake", {});
$("set").onclick = () => run("set", { what: $("key").value, value: $("value").value });
$("get").onclick = () => run("get", { what: $("key").value });
$("quit").onclick = () => run("quit", {});
void connect();

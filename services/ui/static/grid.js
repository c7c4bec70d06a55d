// Camera tiles for gr.HTML(js_on_load=...): one WebSocket per page carries every camera's frames
// (see services/ui/framesocket.py); each becomes a blob URL on every <img data-emo-camera="NAME">, in the
// grid and in the webcam tab alike. Tiles added later get the newest frame on the next sweep.
const latest = new Map(); // camera name -> blob URL of its newest frame
const decoder = new TextDecoder();
let retryMs = 500;

function show(name, url) {
  for (const img of document.querySelectorAll("img[data-emo-camera]")) {
    if (img.dataset.emoCamera === name && img.src !== url) img.src = url;
  }
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const base = location.pathname.replace(/\/[^/]*$/, "");
  const ws = new WebSocket(`${proto}//${location.host}${base}/ws/frames`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { retryMs = 500; };
  ws.onmessage = (ev) => {
    const data = new Uint8Array(ev.data);
    const n = data[0];
    const name = decoder.decode(data.subarray(1, 1 + n));
    const url = URL.createObjectURL(new Blob([data.subarray(1 + n)], { type: "image/jpeg" }));
    const old = latest.get(name);
    latest.set(name, url);
    show(name, url);
    if (old) URL.revokeObjectURL(old);
  };
  ws.onclose = () => {
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  };
}

setInterval(() => { for (const [name, url] of latest) show(name, url); }, 300);
connect();

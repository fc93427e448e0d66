// digit51 ui: drawing pad, drop target, and the chip's answer. No libraries, no network
// beyond this page's own server.
"use strict";
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const message = document.getElementById("message");
const result = document.getElementById("result");
const mismatch = document.getElementById("mismatch");
let source = pad;      // what Classify sends: the pad, or a dropped image at its own size
let drawing = null;    // the pointer drawing a stroke
let busy = false;

function clearPad() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  source = pad;
}

function say(text, isError) {
  message.textContent = text;
  message.className = isError ? "error" : "";
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

pad.addEventListener("pointerdown", (e) => {
  if (source !== pad) clearPad();
  drawing = e.pointerId;
  pad.setPointerCapture(e.pointerId);
  const [x, y] = point(e);
  ctx.strokeStyle = "#fff";
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.lineWidth = 20;
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(x + 0.01, y);
  ctx.stroke();
  e.preventDefault();
});
pad.addEventListener("pointermove", (e) => {
  if (e.pointerId !== drawing) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of events.length ? events : [e]) {
    const [x, y] = point(ev);
    ctx.lineTo(x, y);
  }
  ctx.stroke();
});
for (const kind of ["pointerup", "pointercancel"]) {
  pad.addEventListener(kind, (e) => { if (e.pointerId === drawing) drawing = null; });
}

function rgbaOf(canvas) {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let bin = "";
  for (let i = 0; i < data.length; i += 0x8000) bin += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  return { width: canvas.width, height: canvas.height, rgba: btoa(bin) };
}

function showGrey(canvas, pixels, side) {
  const c = canvas.getContext("2d");
  const img = c.createImageData(side, side);
  for (let i = 0; i < pixels.length; i++) {
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = pixels[i];
    img.data[4 * i + 3] = 255;
  }
  canvas.width = canvas.height = side;
  c.putImageData(img, 0, 0);
}

// Per-class probabilities: softmax over the dequantized logits (logit x the model's logit
// scale), or null when the model file does not say its scale.
function probabilities(logits) {
  const scale = parseFloat(document.querySelector("main").dataset.logitScale);
  if (!(scale > 0)) return null;
  const z = logits.map((v) => v * scale);
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const sum = e.reduce((s, v) => s + v, 0);
  return e.map((v) => v / sum);
}

function showAnswer(a) {
  showGrey(document.getElementById("mnist28"), a.image, 28);
  showGrey(document.getElementById("pooled"), a.pooled, a.side);
  document.getElementById("digit").textContent = a.digit;
  document.getElementById("speed").textContent =
    `${a.cycles.toLocaleString("en-US")} machine cycles` + (a.seconds === null
      ? " of ucsim's 12-clock core (a 1T chip's own time: digit51 fit)"
      : ` = ${a.seconds.toFixed(3)} s per digit on the chip`);
  const deskewed = a.deskewed !== null && a.deskewed !== undefined;
  document.getElementById("deskewed-figure").hidden = !deskewed;
  if (deskewed) showGrey(document.getElementById("deskewed"), a.deskewed, 28);
  const body = document.querySelector("#logits tbody");
  body.textContent = "";
  const probs = probabilities(a.logits);
  a.logits.forEach((v, k) => {
    const tr = document.createElement("tr");
    if (k === a.digit) tr.className = "best";
    if (v !== a.sim_logits[k]) tr.className += " differs";
    const bar = document.createElement("span");
    bar.style.width = probs ? `${Math.round(200 * probs[k])}px` : "0px";
    const cells = [String(k), bar, probs ? `${(100 * probs[k]).toFixed(1)} %` : "—", String(v), String(a.sim_logits[k])];
    const names = ["cls", "bar", "prob", "fw-logit", "sim-logit"];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.className = names[i];
      if (typeof c === "string") td.textContent = c; else td.appendChild(c);
      if (names[i] === "prob" && probs) td.dataset.p = String(probs[k]);
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  result.hidden = false;
  if (a.match) {
    mismatch.hidden = true;
    say("The firmware's logits equal the integer simulator's.", false);
  } else {
    mismatch.hidden = false;
    mismatch.textContent = `FIRMWARE AND INTEGER SIMULATOR DISAGREE: firmware says ${a.digit}, simulator says ${a.sim_digit}; rows in red differ.`;
    say("Mismatch: see the rows in red.", true);
  }
}

async function classify() {
  if (busy) return;
  busy = true;
  say("Asking the chip...", false);
  document.body.dataset.state = "busy";
  try {
    const r = await fetch("/api/classify", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(rgbaOf(source)),
    });
    const a = await r.json();
    if (!r.ok) { result.hidden = true; mismatch.hidden = true; say(a.error || `HTTP ${r.status}`, true); }
    else if (a.blank) { result.hidden = true; mismatch.hidden = true; say(a.message, true); }
    else showAnswer(a);
  } catch (err) {
    say(`No answer from the digit51 server (${err.message}); is \`digit51 ui\` still running?`, true);
  } finally {
    busy = false;
    document.body.dataset.state = "done";
  }
}

async function useFile(file) {
  if (!file) return;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (err) {
    say(`${file.name || "the dropped file"} is not an image this browser can read (PNG or JPEG expected).`, true);
    document.body.dataset.state = "done";
    return;
  }
  const k = Math.min(1, 1024 / Math.max(bitmap.width, bitmap.height));
  const img = document.createElement("canvas");
  img.width = Math.max(1, Math.round(bitmap.width * k));
  img.height = Math.max(1, Math.round(bitmap.height * k));
  const c = img.getContext("2d");
  c.fillStyle = "#fff";                  // transparent parts become paper
  c.fillRect(0, 0, img.width, img.height);
  c.drawImage(bitmap, 0, 0, img.width, img.height);
  clearPad();
  const f = Math.min(pad.width / img.width, pad.height / img.height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(img, (pad.width - img.width * f) / 2, (pad.height - img.height * f) / 2, img.width * f, img.height * f);
  source = img;
  classify();
}

pad.addEventListener("dragover", (e) => { e.preventDefault(); pad.classList.add("drop"); });
pad.addEventListener("dragleave", () => pad.classList.remove("drop"));
pad.addEventListener("drop", (e) => {
  e.preventDefault();
  pad.classList.remove("drop");
  useFile(e.dataTransfer.files[0]);
});
document.getElementById("file").addEventListener("change", (e) => useFile(e.target.files[0]));
document.getElementById("classify").addEventListener("click", classify);
document.getElementById("clear").addEventListener("click", () => {
  clearPad();
  result.hidden = true;
  mismatch.hidden = true;
  say("Draw a digit and press Classify.", false);
});
window.addEventListener("pagehide", () => navigator.sendBeacon("/api/bye"));
clearPad();

// The harness of a sketch's page (see renderers/_browser.py); runs before the library.
//
// It reads the job (mode "p5" or "processing", the sketch's code, the pixel limit) from
// the JSON script #vad-job, runs the sketch's setup() and one draw() (more, up to
// MAX_FRAMES, while the canvas holds a single colour: a sketch whose picture moves in
// from outside the canvas shows it after a few frames, as it does on its page), then
// replaces the whole document with one <pre id="vad-result"> holding a JSON object of
// printable ASCII: {status, reason} and, when the status is "ok", the canvas as a PNG
// (base64) with its size. Chromium's --dump-dom prints that document. A sketch that
// never finishes its first frame leaves no result (the renderer reports a timeout).
"use strict";
(function () {
  const job = JSON.parse(document.getElementById("vad-job").textContent);
  const toDataURL = HTMLCanvasElement.prototype.toDataURL;
  const drawImage = CanvasRenderingContext2D.prototype.drawImage;
  const getImageData = CanvasRenderingContext2D.prototype.getImageData;
  const MAX_FRAMES = 60;
  const state = {
    done: false,
    error: null,
    injecting: false,
    started: false,
    loaded: false,
    sketches: 0,
  };

  // The sketch's own line where the error was thrown, when its stack shows one.
  function describe(err, line) {
    let text;
    if (err instanceof Error) {
      // a syntax error in the injected script comes wrapped in appendChild's failure
      const message = String(err.message).replace(/^Failed to execute '\w+' on '\w+': /, "");
      text = `${err.name}: ${message}`;
      const frame = /sketch\.js:(\d+):\d+/.exec(String(err.stack));
      line = line || (frame ? Number(frame[1]) : 0);
    } else {
      text = String(err);
    }
    return line ? `${text} (line ${line})` : text;
  }

  // An exception that escapes the sketch: the first one is its result.
  function onError(event) {
    if (state.done || state.error) return;
    const ours = state.injecting || /sketch\.js$/.test(event.filename || "");
    const line = ours ? event.lineno : 0;
    state.error = {
      syntax: state.injecting && !state.started,
      text: describe(event.error === undefined ? event.message : event.error, line),
    };
    if (state.loaded) failed();
  }
  // Dialogs and printing would wait for a person forever: they answer at once.
  window.alert = () => undefined;
  window.confirm = () => false;
  window.prompt = () => null;
  window.print = () => undefined;

  window.addEventListener("error", onError, true);
  window.addEventListener(
    "unhandledrejection",
    (event) => onError({ error: event.reason, filename: "" }),
    true,
  );

  function ascii(text) {
    return text.replace(/[^\x20-\x7e]|[<>&]/g, (c) => {
      return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
    });
  }

  function picture(canvas) {
    if (!canvas || !canvas.width || !canvas.height) {
      return { status: "empty_image", reason: "the sketch made no canvas" };
    }
    const { width, height } = canvas;
    if (width * height > job.maxPixels) {
      return { status: "too_large", reason: `the canvas is ${width}x${height} pixels` };
    }
    let url;
    try {
      url = toDataURL.call(canvas, "image/png");
    } catch (err) {
      return { status: "runtime_error", reason: describe(err) };
    }
    const prefix = "data:image/png;base64,";
    if (!url.startsWith(prefix)) {
      return { status: "too_large", reason: `the canvas (${width}x${height}) could not be read` };
    }
    return { status: "ok", reason: "", width, height, png: url.slice(prefix.length) };
  }

  // Whether the canvas holds one colour only (then the sketch draws another frame).
  function flat(canvas) {
    if (!canvas || !canvas.width || !canvas.height) return false;
    try {
      const copy = document.createElement("canvas");
      copy.width = canvas.width;
      copy.height = canvas.height;
      const context = copy.getContext("2d");
      drawImage.call(context, canvas, 0, 0);
      const { data } = getImageData.call(context, 0, 0, copy.width, copy.height);
      const pixels = new Uint32Array(data.buffer);
      for (let i = 1; i < pixels.length; i++) if (pixels[i] !== pixels[0]) return false;
      return true;
    } catch (err) {
      return false; // the host judges the picture anyway
    }
  }

  // Stop every timer and frame the page still has, then leave the result alone in it.
  function finish(status, reason, canvas) {
    if (state.done) return;
    state.done = true;
    const result = status === "ok" ? picture(canvas) : { status, reason: reason.slice(0, 500) };
    const top = setTimeout(() => {}, 0);
    for (let id = 0; id <= top; id++) clearTimeout(id);
    const frame = requestAnimationFrame(() => {});
    for (let id = 0; id <= frame; id++) cancelAnimationFrame(id);
    const pre = document.createElement("pre");
    pre.id = "vad-result";
    pre.textContent = ascii(JSON.stringify(result));
    const body = document.createElement("body");
    body.appendChild(pre);
    document.documentElement.replaceChildren(document.createElement("head"), body);
  }

  function failed() {
    if (!state.error) return false;
    finish(state.error.syntax ? "syntax_error" : "runtime_error", state.error.text);
    return true;
  }

  // The code runs as a classic script of its own, as on a sketch's page: its function
  // declarations are globals, and a syntax error stops it before any statement runs.
  function inject(code) {
    const script = document.createElement("script");
    script.textContent = "window.__vadStarted();" + code + "\n//# sourceURL=sketch.js";
    state.injecting = true;
    document.body.appendChild(script);
    state.injecting = false;
  }
  window.__vadStarted = () => {
    state.started = true;
  };

  function runP5() {
    const p5 = window.p5;
    p5.prototype.registerMethod("init", () => {
      state.sketches++;
    });
    // setup() ends in noLoop(), so p5 draws the first frame at once and no other.
    p5.prototype.registerMethod("afterSetup", function () {
      this.noLoop();
      const scope = this._isGlobal ? window : this;
      if (typeof scope.draw !== "function") finish("ok", "", this.canvas);
    });
    let frames = 0;
    p5.prototype.registerMethod("post", function () {
      this.noLoop(); // even if draw() called loop(): no frame after this one
      frames++;
      if (frames < MAX_FRAMES && flat(this.canvas)) {
        setTimeout(() => {
          if (!failed()) this.redraw();
        }, 0);
        return;
      }
      finish("ok", "", this.canvas);
    });
    inject(job.code); // p5 starts a global-mode sketch once the page has loaded
  }

  function runProcessing() {
    const Processing = window.Processing;
    let sketch;
    try {
      sketch = Processing.compile(job.code);
      new Function("return (" + sketch.sourceCode + ");"); // the translation parses
    } catch (err) {
      finish("syntax_error", describe(err));
      return;
    }
    const canvas = document.createElement("canvas");
    document.body.appendChild(canvas);
    let instance = null;
    let setupDone = false;
    sketch.onLoad = (p) => {
      instance = p;
      if (typeof p.setup !== "function") p.noLoop(); // then draw() runs once, at once
    };
    sketch.onSetup = () => {
      setupDone = true;
      instance.noLoop(); // one draw(), at once, and no loop after it
    };
    state.started = true;
    try {
      new Processing(canvas, sketch);
    } catch (err) {
      finish("runtime_error", describe(err));
      return;
    }
    if (failed()) return;
    if (instance && (setupDone || typeof instance.setup !== "function")) {
      try {
        for (let frames = 1; frames < MAX_FRAMES && flat(canvas); frames++) {
          if (typeof instance.draw !== "function") break;
          instance.redraw();
          if (failed()) return;
        }
      } catch (err) {
        finish("runtime_error", describe(err));
        return;
      }
      finish("ok", "", canvas);
    }
  }

  // After the load event the sketch has had its setup() and draw(), unless it preloads
  // files (which never arrive), waits for a timer, or failed.
  function afterLoad() {
    state.loaded = true;
    if (failed() || state.done) return;
    if (job.mode === "p5" && !state.sketches) {
      finish("empty_image", "the sketch defines neither setup() nor draw()");
      return;
    }
    setTimeout(() => {
      if (!failed()) finish("timeout", "the sketch never finished its first frame");
    }, job.waitMs);
  }

  window.__vadRun = function () {
    try {
      if (job.mode === "p5") runP5();
      else runProcessing();
    } catch (err) {
      finish("runtime_error", describe(err));
    }
    failed();
    // registered last: p5 starts the sketch on the load event, before this listener
    window.addEventListener("load", afterLoad);
  };
})();

let msg = "hello, world";

function setup() {
  createCanvas(400, 400);
  textFont("monospace");
  textAlign(CENTER, CENTER);
}

function draw() {
  background(250, 245, 235);

  textSize(32);
  let totalW = textWidth(msg);
  let x = width / 2 - totalW / 2;

  for (let i = 0; i < msg.length; i++) {
    let ch = msg.charAt(i);
    let cw = textWidth(ch);
    let y = height / 2 + sin(frameCount * 0.08 + i * 0.5) * 25;
    fill(40 + i * 15, 80, 160);
    text(ch, x + cw / 2, y);
    x += cw;
  }

  textSize(14);
  fill(120);
  text("frame " + frameCount, width / 2, height - 30);
}

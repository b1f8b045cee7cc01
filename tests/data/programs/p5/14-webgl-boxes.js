function setup() {
  createCanvas(400, 400, WEBGL);
}

function draw() {
  background(30);
  ambientLight(80);
  directionalLight(255, 255, 255, 0.5, 1, -1);

  rotateX(frameCount * 0.01);
  rotateY(frameCount * 0.013);

  noStroke();
  for (let i = -2; i <= 2; i++) {
    for (let j = -2; j <= 2; j++) {
      push();
      translate(i * 60, j * 60, 0);
      let h = 20 + 30 * sin(frameCount * 0.05 + i + j);
      ambientMaterial(150 + i * 20, 100 + j * 25, 200);
      box(30, 30, h);
      pop();
    }
  }

  push();
  translate(0, 0, 80);
  normalMaterial();
  sphere(25);
  pop();
}

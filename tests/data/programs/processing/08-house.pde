void setup() {
  size(400, 400);
  noLoop();
}

void draw() {
  // sky and ground
  background(150, 200, 255);
  noStroke();
  fill(90, 170, 80);
  rect(0, 300, width, 100);

  // sun
  fill(255, 230, 0);
  ellipse(340, 60, 70, 70);

  // house body
  stroke(60);
  strokeWeight(2);
  fill(220, 120, 90);
  rect(110, 190, 180, 130);

  // roof
  fill(130, 50, 40);
  triangle(95, 190, 200, 110, 305, 190);

  // chimney
  fill(100);
  quad(245, 145, 265, 145, 265, 120, 245, 120);

  // door
  fill(100, 60, 30);
  rect(180, 250, 40, 70);
  fill(240, 200, 0);
  ellipse(212, 287, 5, 5);

  // windows
  fill(200, 230, 255);
  rect(130, 215, 35, 35);
  rect(235, 215, 35, 35);
  line(147, 215, 147, 250);
  line(130, 232, 165, 232);
  line(252, 215, 252, 250);
  line(235, 232, 270, 232);

  // path
  noStroke();
  fill(200, 180, 140);
  quad(180, 320, 220, 320, 250, 400, 150, 400);

  fill(0);
  textSize(16);
  text("home", 20, 30);
}

Planet[] planets = new Planet[5];

void setup() {
  size(400, 400);
  for (int i = 0; i < planets.length; i++) {
    float d = 50 + i * 30;
    planets[i] = new Planet(d, random(8, 20), random(0.005, 0.03));
  }
}

void draw() {
  background(5, 5, 20);
  translate(width / 2, height / 2);

  noStroke();
  fill(255, 200, 50);
  ellipse(0, 0, 50, 50);

  for (int i = 0; i < planets.length; i++) {
    planets[i].orbit();
    planets[i].show();
  }
}

class Planet {
  float distance;
  float diameter;
  float angle;
  float speed;
  color col;

  Planet(float d, float r, float s) {
    distance = d;
    diameter = r;
    speed = s;
    angle = random(TWO_PI);
    col = color(random(80, 255), random(80, 255), random(80, 255));
  }

  void orbit() {
    angle += speed;
  }

  void show() {
    noFill();
    stroke(255, 40);
    ellipse(0, 0, distance * 2, distance * 2);

    pushMatrix();
    rotate(angle);
    translate(distance, 0);
    noStroke();
    fill(col);
    ellipse(0, 0, diameter, diameter);
    popMatrix();
  }
}

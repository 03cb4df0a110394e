// Times Krähenbühl's densecrf 2.2 (built from its own sources, outside this repository) on the
// same input `deeplab bench crf` times: a photograph, a class map of probabilities, DeepLab-
// LargeFOV's CRF parameters, the 2011 per-pixel normalisation. Prints the median setup and
// inference times as one JSON line and writes the labels, so that crf_vs_densecrf.sh can compare
// both the speed and the result.
// usage: time_densecrf IMAGE.ppm PROBS.f32 LABELS ITERATIONS REPEATS LABELS_OUT.pgm
//   IMAGE.ppm: binary P6, 8 bits; PROBS.f32: H x W x LABELS float32 probabilities, row-major.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "densecrf.h"

namespace {

std::vector<unsigned char> read_ppm(const std::string& path, int& width, int& height) {
  std::ifstream in(path, std::ios::binary);
  std::string magic;
  int maxval = 0;
  in >> magic >> width >> height >> maxval;
  in.get();
  if (!in || magic != "P6" || maxval != 255) {
    std::cerr << path << ": not a binary 8-bit PPM\n";
    std::exit(1);
  }
  std::vector<unsigned char> rgb(size_t(width) * height * 3);
  in.read(reinterpret_cast<char*>(rgb.data()), std::streamsize(rgb.size()));
  if (!in) {
    std::cerr << path << ": truncated\n";
    std::exit(1);
  }
  return rgb;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::cerr << "usage: time_densecrf IMAGE.ppm PROBS.f32 LABELS ITERATIONS REPEATS LABELS_OUT.pgm\n";
    return 2;
  }
  int width = 0, height = 0;
  std::vector<unsigned char> rgb = read_ppm(argv[1], width, height);
  const int labels = std::atoi(argv[3]), iterations = std::atoi(argv[4]), repeats = std::atoi(argv[5]);
  const int n = width * height;
  if (labels < 1 || iterations < 0 || repeats < 1) {
    std::cerr << "time_densecrf: LABELS and REPEATS must be at least 1, ITERATIONS at least 0\n";
    return 2;
  }
  std::vector<float> probs(size_t(n) * labels);
  std::ifstream in(argv[2], std::ios::binary);
  in.read(reinterpret_cast<char*>(probs.data()), std::streamsize(probs.size() * sizeof(float)));
  if (!in) {
    std::cerr << argv[2] << ": fewer than " << probs.size() << " floats\n";
    return 1;
  }
  // The unary as deeplab makes it from probabilities: -log p, p floored at 1e-30.
  MatrixXf unary(labels, n);
  for (int i = 0; i < n; ++i)
    for (int l = 0; l < labels; ++l) unary(l, i) = -std::log(std::max(probs[size_t(i) * labels + l], 1e-30f));

  using clock = std::chrono::steady_clock;
  std::vector<double> setup, inference;
  VectorXs map;
  for (int r = 0; r <= repeats; ++r) {  // the first run is a warm-up
    const clock::time_point t0 = clock::now();
    DenseCRF2D crf(width, height, labels);
    crf.setUnaryEnergy(unary);
    crf.addPairwiseGaussian(3, 3, new PottsCompatibility(3), DIAG_KERNEL, NORMALIZE_AFTER);
    crf.addPairwiseBilateral(121, 121, 5, 5, 5, rgb.data(), new PottsCompatibility(4), DIAG_KERNEL, NORMALIZE_AFTER);
    const clock::time_point t1 = clock::now();
    const MatrixXf q = crf.inference(iterations);
    const clock::time_point t2 = clock::now();
    if (r == 0) {
      map.resize(n);
      for (int i = 0; i < n; ++i) q.col(i).maxCoeff(&map[i]);
      continue;
    }
    setup.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    inference.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  std::ofstream out(argv[6], std::ios::binary);
  out << "P5\n" << width << " " << height << "\n255\n";
  for (int i = 0; i < n; ++i) out.put(char(map[i]));
  std::printf("{\"setup_ms\": %.2f, \"inference_ms\": %.2f}\n", median(setup), median(inference));
  return 0;
}

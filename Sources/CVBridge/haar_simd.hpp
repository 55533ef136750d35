// SIMD (AVX-512, or AVX2) evaluation of stump-based upright Haar cascades (haarcascade_frontalface_default and kin).
//
// Written by hand because OpenCV's CPU cascade evaluator is scalar: it runs the stages for one window
// at a time, and Haar detection was ~70 % of emotiond's CPU time (perf, `bench pipeline`). Here 16 (AVX2: 8)
// neighbouring windows of a row go through the stages together: every rectangle corner of a feature
// is one vector load from the integral image (levels scanned every second pixel use an integral image
// split into even and odd columns, so that stays one load). It
// reproduces cv::CascadeClassifier::detectMultiScale (OpenCV 4.6) exactly: the same scales, image
// pyramid (cv::resize), integral images (cv::integral), window steps, the skip after a first-stage
// rejection, the same float/double arithmetic in the same order (no FMA contraction), and the same
// grouping (cv::groupRectangles). The DetectionTests compare the two rectangle for rectangle.
#pragma once
#include <opencv2/core.hpp>
#include <memory>
#include <string>
#include <vector>

namespace emo {

class HaarSIMD {
public:
    enum class ISA { none, avx2, avx512 };
    /// nullptr when the file is not a stump-based upright Haar cascade or the CPU has neither AVX-512F
    /// nor AVX2 (the caller then uses cv::CascadeClassifier). `widest`: AVX-512 where the CPU has it,
    /// else AVX2 (8 windows at a time); `ISA::avx2` forces the latter (tests, comparisons).
    static std::unique_ptr<HaarSIMD> load(const std::string &path, ISA widest = ISA::avx512);
    ISA isa() const { return isa_; }
    /// The form this CPU runs, at most `widest`; ISA::none without AVX2.
    static ISA available(ISA widest);
    /// Windows per vector: 16 (AVX-512), 8 (AVX2), 0.
    static int lanes(ISA isa) { return isa == ISA::avx512 ? 16 : isa == ISA::avx2 ? 8 : 0; }

    /// cv::CascadeClassifier::detectMultiScale(gray, objects, scaleFactor, minNeighbors, 0, minSize,
    /// maxSize) on an 8-bit single-channel image. Returns false when the request falls outside what
    /// is reproduced here (no usable scale); the caller then runs OpenCV.
    bool detect(const cv::Mat &gray, std::vector<cv::Rect> &objects, double scaleFactor, int minNeighbors,
                cv::Size minSize, cv::Size maxSize);

    struct Stage { int first, ntrees; float threshold; };
    struct Stump { int feature; float threshold, left, right; };
    struct Rect { int x, y, w, h; float weight; };
    struct Feature { Rect r[3]; };
    struct OptFeature { int ofs[3][4]; float w[3]; };
    struct Layout { std::vector<OptFeature> opt; int nofs[4]; };

private:
    static std::unique_ptr<HaarSIMD> parse(const std::string &path);
    cv::Size win_;                  // the cascade's window
    std::vector<Stage> stages_;
    std::vector<Stump> stumps_;     // all stages' stumps, stage by stage
    std::vector<Feature> features_;
    Layout layouts_[2];             // corner offsets for the current stride: pixel step 1 and 2 (see prepare)
    int optStride_ = -1;
    bool anyOrder_ = false;         // stage sums exact in any order (see parse)
    ISA isa_ = ISA::none;
    cv::Mat small_;                 // one pyramid level
    std::vector<int> sum_, sqsum_;  // its integral images (padded; layout 1 on levels scanned every 2nd pixel)
    std::vector<int> rowScratch_;   // one row, while a level is rearranged into layout 1
    std::vector<signed char> row_;  // per-window result of one row: 1 pass, 0 first-stage reject, -1 other
    void prepare(int stride);
};

} // namespace emo

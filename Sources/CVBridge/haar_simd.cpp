// See haar_simd.hpp. Exactness notes refer to OpenCV 4.6 modules/objdetect/src/cascadedetect.{cpp,hpp}.
#include "haar_simd.hpp"
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <immintrin.h>
#include <cmath>
#include <climits>
#include <cstring>

// OpenCV's scalar code rounds every product and sum separately; so must this file.
#pragma clang fp contract(off)

namespace emo {

namespace {
constexpr float kThresholdEps = 1e-5f; // CascadeClassifierImpl::Data::read subtracts it from stage thresholds

bool readRect(const cv::FileNode &n, HaarSIMD::Rect &r) {
    std::vector<float> v;
    n >> v;
    if (v.size() != 5) return false;
    r = {(int)v[0], (int)v[1], (int)v[2], (int)v[3], v[4]};
    return true;
}
} // namespace

HaarSIMD::ISA HaarSIMD::available(ISA widest) {
    if (widest == ISA::none) return ISA::none;
    if (widest == ISA::avx512 && __builtin_cpu_supports("avx512f")) return ISA::avx512;
    return __builtin_cpu_supports("avx2") ? ISA::avx2 : ISA::none;
}

std::unique_ptr<HaarSIMD> HaarSIMD::load(const std::string &path, ISA widest) {
    ISA isa = available(widest);
    if (isa == ISA::none) return nullptr;
    try {
        auto h = parse(path);
        if (h) h->isa_ = isa;
        return h;
    } catch (const std::exception &) {
        return nullptr; // malformed XML: OpenCV's loader reports it
    }
}

std::unique_ptr<HaarSIMD> HaarSIMD::parse(const std::string &path) {
    cv::FileStorage fs(path, cv::FileStorage::READ);
    if (!fs.isOpened()) return nullptr;
    cv::FileNode root = fs.getFirstTopLevelNode();
    if ((std::string)root["stageType"] != "BOOST" || (std::string)root["featureType"] != "HAAR") return nullptr;
    auto h = std::unique_ptr<HaarSIMD>(new HaarSIMD());
    h->win_ = cv::Size((int)root["width"], (int)root["height"]);
    if (h->win_.width < 4 || h->win_.height < 4) return nullptr;
    if ((int)root["featureParams"]["maxCatCount"] != 0) return nullptr;
    for (const cv::FileNode &st : root["stages"]) {
        Stage s{(int)h->stumps_.size(), 0, (float)st["stageThreshold"] - kThresholdEps};
        for (const cv::FileNode &wc : st["weakClassifiers"]) {
            std::vector<float> nodes, leaves;
            wc["internalNodes"] >> nodes;
            wc["leafValues"] >> leaves;
            // Stumps only: one internal node (left, right, feature, threshold) and two leaves.
            if (nodes.size() != 4 || leaves.size() != 2) return nullptr;
            h->stumps_.push_back({(int)nodes[2], nodes[3], leaves[0], leaves[1]});
            s.ntrees++;
        }
        if (s.ntrees == 0) return nullptr;
        h->stages_.push_back(s);
    }
    for (const cv::FileNode &f : root["features"]) {
        if (!f["tilted"].empty() && (int)f["tilted"] != 0) return nullptr;
        Feature ft{};
        int i = 0;
        for (const cv::FileNode &r : f["rects"]) {
            if (i == 3 || !readRect(r, ft.r[i])) return nullptr;
            const Rect &q = ft.r[i];
            if (q.x < 0 || q.y < 0 || q.w < 0 || q.h < 0 || q.x + q.w > h->win_.width || q.y + q.h > h->win_.height) return nullptr;
            i++;
        }
        if (i < 2) return nullptr;
        h->features_.push_back(ft);
    }
    if (h->stages_.empty() || h->features_.empty()) return nullptr;
    for (const Stump &s : h->stumps_)
        if (s.feature < 0 || s.feature >= (int)h->features_.size()) return nullptr;
    // A stage's leaf values are floats: each a multiple of 2^(exponent - 24). When the largest possible
    // |sum| needs no more than 53 bits above the finest such step, every partial sum is exact in double,
    // so the order of the additions cannot change the result (haarcascade_frontalface_default: 46 bits).
    h->anyOrder_ = true;
    for (const Stage &st : h->stages_) {
        int finest = INT_MAX;
        double bound = 0;
        for (int t = st.first; t < st.first + st.ntrees; t++) {
            const Stump &s = h->stumps_[t];
            for (float v : {s.left, s.right}) {
                int e;
                if (v != 0.0f) { std::frexp(v, &e); finest = std::min(finest, e - 24); }
            }
            bound += std::max(std::fabs((double)s.left), std::fabs((double)s.right));
        }
        int e;
        std::frexp(bound, &e);
        if (finest != INT_MAX && e - finest > 53) h->anyOrder_ = false;
    }
    return h;
}

void HaarSIMD::prepare(int stride) {
    if (stride == optStride_) return;
    optStride_ = stride;
    // Layout 0 (pyramid levels scanned every pixel): the integral image as is. Layout 1 (levels scanned
    // every second pixel): each row split into its even columns then its odd ones (half a stride each),
    // so the corners of 16 windows 2 pixels apart are again 16 consecutive ints.
    for (int l = 0; l < 2; l++) {
        Layout &L = layouts_[l];
        auto at = [&](int x, int y) { return l == 0 ? y * stride + x : y * stride + (x >> 1) + (x & 1) * (stride / 2); };
        auto corners = [&](int *o, int x, int y, int w, int h) {
            o[0] = at(x, y);                   // CV_SUM_OFS: top-left, top-right, bottom-left, bottom-right
            o[1] = at(x + w, y);
            o[2] = at(x, y + h);
            o[3] = at(x + w, y + h);
        };
        corners(L.nofs, 1, 1, win_.width - 2, win_.height - 2); // normrect
        L.opt.resize(features_.size());
        for (size_t i = 0; i < features_.size(); i++) {
            for (int k = 0; k < 3; k++) {
                const Rect &r = features_[i].r[k];
                corners(L.opt[i].ofs[k], r.x, r.y, r.w, r.h);
                L.opt[i].w[k] = r.weight;
            }
        }
    }
}

namespace {

__attribute__((target("avx512f"), always_inline)) inline __m512i rectSum(const int *p, const int *o) {
    // CALC_SUM_OFS: p[o0] - p[o1] - p[o2] + p[o3] for 16 windows, in wrapping int32 arithmetic.
    __m512i a = _mm512_loadu_si512(p + o[0]), b = _mm512_loadu_si512(p + o[1]), c = _mm512_loadu_si512(p + o[2]), d = _mm512_loadu_si512(p + o[3]);
    return _mm512_add_epi32(_mm512_sub_epi32(_mm512_sub_epi32(a, b), c), d);
}


// One stump for 16 windows: the feature (OptFeature::calc: w0 * s0 + w1 * s1 (+ w2 * s2), each
// product and sum rounded to float) times the window's norm factor, compared with the threshold; the
// chosen leaf (as double) is added to the two 8-lane accumulators.
__attribute__((target("avx512f"), always_inline)) inline void stumpAdd(const int *p, __m512 vnf, const HaarSIMD::OptFeature *opt,
                                                        const HaarSIMD::Stump &sp, __m512d &acc0, __m512d &acc1) {
    const HaarSIMD::OptFeature &f = opt[sp.feature];
    __m512 ret = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(f.w[0]), _mm512_cvtepi32_ps(rectSum(p, f.ofs[0]))),
                               _mm512_mul_ps(_mm512_set1_ps(f.w[1]), _mm512_cvtepi32_ps(rectSum(p, f.ofs[1]))));
    if (f.w[2] != 0.0f)
        ret = _mm512_add_ps(ret, _mm512_mul_ps(_mm512_set1_ps(f.w[2]), _mm512_cvtepi32_ps(rectSum(p, f.ofs[2]))));
    __mmask16 lt = _mm512_cmp_ps_mask(_mm512_mul_ps(ret, vnf), _mm512_set1_ps(sp.threshold), _CMP_LT_OQ);
    const __m512d left = _mm512_set1_pd(sp.left), right = _mm512_set1_pd(sp.right);
    acc0 = _mm512_add_pd(acc0, _mm512_mask_blend_pd((__mmask8)lt, right, left));
    acc1 = _mm512_add_pd(acc1, _mm512_mask_blend_pd((__mmask8)(lt >> 8), right, left));
}

// Results for `count` consecutive windows of one row in layout `L` (pointers at the row's first window):
// 1 passed every stage, 0 rejected by the first stage, -1 otherwise (CascadeClassifierImpl::runAt).
__attribute__((target("avx512f")))
void evalRow(const int *sum, const int *sq, int count, const HaarSIMD::Layout &L, double area,
             const HaarSIMD::Stage *stages, int nstages, const HaarSIMD::Stump *stumps, bool anyOrder, signed char *out) {
    const HaarSIMD::OptFeature *opt = L.opt.data();
    const __m512d vArea = _mm512_set1_pd(area), vTenth = _mm512_set1_pd(1e-1), one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
    for (int i = 0; i < count; i += 16) {
        const int *p = sum + i, *q = sq + i;
        int n = count - i < 16 ? count - i : 16;
        __mmask16 valid = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
        // HaarEvaluator::setWindow: variance normalisation over the window less a 1-pixel border;
        // a window with nf <= 0 or area / sqrt(nf) >= 0.1 is rejected before the stages (-1).
        __m512i vs = rectSum(p, L.nofs), vq = rectSum(q, L.nofs);
        __m256 inv[2];
        __mmask8 ok[2];
        for (int h = 0; h < 2; h++) {
            __m256i s8 = h ? _mm512_extracti64x4_epi64(vs, 1) : _mm512_castsi512_si256(vs);
            __m256i q8 = h ? _mm512_extracti64x4_epi64(vq, 1) : _mm512_castsi512_si256(vq);
            __m512d sd = _mm512_cvtepi32_pd(s8);
            __m512d nf = _mm512_sub_pd(_mm512_mul_pd(vArea, _mm512_cvtepu32_pd(q8)), _mm512_mul_pd(sd, sd));
            __mmask8 pos = _mm512_cmp_pd_mask(nf, zero, _CMP_GT_OQ);
            inv[h] = _mm512_cvtpd_ps(_mm512_div_pd(one, _mm512_sqrt_pd(nf)));
            ok[h] = pos & _mm512_cmp_pd_mask(_mm512_mul_pd(vArea, _mm512_cvtps_pd(inv[h])), vTenth, _CMP_LT_OQ);
        }
        const __m512 vnf = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(inv[0])), _mm256_castps_pd(inv[1]), 1));
        __mmask16 live = valid & (__mmask16)(ok[0] | (ok[1] << 8));
        signed char res[16];
        for (int k = 0; k < 16; k++) res[k] = -1;
        // predictOrderedStump: per stage, a double sum of float leaf values; reject when below the threshold.
        for (int si = 0; si < nstages && live; si++) {
            const HaarSIMD::Stage &st = stages[si];
            const __m512d thr = _mm512_set1_pd((double)st.threshold);
            __m512d acc0, acc1;
            const HaarSIMD::Stump *sp = stumps + st.first;
            if (anyOrder) {
                // Exact in any order (see HaarSIMD::parse): four chains hide the add latency.
                __m512d a0 = zero, a1 = zero, b0 = zero, b1 = zero, c0 = zero, c1 = zero, d0 = zero, d1 = zero;
                int t = 0;
                for (; t + 4 <= st.ntrees; t += 4) {
                    stumpAdd(p, vnf, opt, sp[t], a0, a1);
                    stumpAdd(p, vnf, opt, sp[t + 1], b0, b1);
                    stumpAdd(p, vnf, opt, sp[t + 2], c0, c1);
                    stumpAdd(p, vnf, opt, sp[t + 3], d0, d1);
                }
                for (; t < st.ntrees; t++) stumpAdd(p, vnf, opt, sp[t], a0, a1);
                acc0 = _mm512_add_pd(_mm512_add_pd(a0, b0), _mm512_add_pd(c0, d0));
                acc1 = _mm512_add_pd(_mm512_add_pd(a1, b1), _mm512_add_pd(c1, d1));
            } else {
                acc0 = zero; acc1 = zero;
                for (int t = 0; t < st.ntrees; t++) stumpAdd(p, vnf, opt, sp[t], acc0, acc1);
            }
            __mmask16 below = (__mmask16)(_mm512_cmp_pd_mask(acc0, thr, _CMP_LT_OQ) | (_mm512_cmp_pd_mask(acc1, thr, _CMP_LT_OQ) << 8));
            __mmask16 rejected = live & below;
            if (si == 0)
                for (int k = 0; k < 16; k++) if (rejected & (1u << k)) res[k] = 0;
            live &= (__mmask16)~below;
        }
        for (int k = 0; k < 16; k++) if (live & (1u << k)) res[k] = 1;
        std::memcpy(out + i, res, (size_t)n);
    }
}

// The same for 8 windows with AVX2 (CPUs without AVX-512F): masks are vectors, doubles come 4 at a time.
// Kept as a second copy of evalRow rather than one template over both instruction sets: the mask models
// differ (k-registers vs compare vectors and movemask) in nearly every line, and each form is compared
// with OpenCV on its own in Tests/DetectionTests.
__attribute__((target("avx2"), always_inline)) inline __m256i rectSum8(const int *p, const int *o) {
    __m256i a = _mm256_loadu_si256((const __m256i *)(p + o[0])), b = _mm256_loadu_si256((const __m256i *)(p + o[1]));
    __m256i c = _mm256_loadu_si256((const __m256i *)(p + o[2])), d = _mm256_loadu_si256((const __m256i *)(p + o[3]));
    return _mm256_add_epi32(_mm256_sub_epi32(_mm256_sub_epi32(a, b), c), d);
}

__attribute__((target("avx2"), always_inline)) inline void stumpAdd8(const int *p, __m256 vnf, const HaarSIMD::OptFeature *opt,
                                                       const HaarSIMD::Stump &sp, __m256d &acc0, __m256d &acc1) {
    const HaarSIMD::OptFeature &f = opt[sp.feature];
    __m256 ret = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(f.w[0]), _mm256_cvtepi32_ps(rectSum8(p, f.ofs[0]))),
                               _mm256_mul_ps(_mm256_set1_ps(f.w[1]), _mm256_cvtepi32_ps(rectSum8(p, f.ofs[1]))));
    if (f.w[2] != 0.0f)
        ret = _mm256_add_ps(ret, _mm256_mul_ps(_mm256_set1_ps(f.w[2]), _mm256_cvtepi32_ps(rectSum8(p, f.ofs[2]))));
    __m256 lt = _mm256_cmp_ps(_mm256_mul_ps(ret, vnf), _mm256_set1_ps(sp.threshold), _CMP_LT_OQ);
    __m256 leaf = _mm256_blendv_ps(_mm256_set1_ps(sp.right), _mm256_set1_ps(sp.left), lt);
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(leaf)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(leaf, 1)));
}

__attribute__((target("avx2")))
void evalRow8(const int *sum, const int *sq, int count, const HaarSIMD::Layout &L, double area,
              const HaarSIMD::Stage *stages, int nstages, const HaarSIMD::Stump *stumps, bool anyOrder, signed char *out) {
    const HaarSIMD::OptFeature *opt = L.opt.data();
    const __m256d vArea = _mm256_set1_pd(area), vTenth = _mm256_set1_pd(1e-1), one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
    const __m256d two32 = _mm256_set1_pd(4294967296.0);
    for (int i = 0; i < count; i += 8) {
        const int *p = sum + i, *q = sq + i;
        int n = count - i < 8 ? count - i : 8;
        unsigned valid = (1u << n) - 1;
        __m256i vs = rectSum8(p, L.nofs), vq = rectSum8(q, L.nofs);
        __m128 inv[2];
        unsigned ok[2];
        for (int h = 0; h < 2; h++) {
            __m128i s4 = h ? _mm256_extracti128_si256(vs, 1) : _mm256_castsi256_si128(vs);
            __m128i q4 = h ? _mm256_extracti128_si256(vq, 1) : _mm256_castsi256_si128(vq);
            __m256d sd = _mm256_cvtepi32_pd(s4), qd = _mm256_cvtepi32_pd(q4);
            qd = _mm256_add_pd(qd, _mm256_and_pd(_mm256_cmp_pd(qd, zero, _CMP_LT_OQ), two32)); // as unsigned
            __m256d nf = _mm256_sub_pd(_mm256_mul_pd(vArea, qd), _mm256_mul_pd(sd, sd));
            __m256d pos = _mm256_cmp_pd(nf, zero, _CMP_GT_OQ);
            inv[h] = _mm256_cvtpd_ps(_mm256_div_pd(one, _mm256_sqrt_pd(nf)));
            ok[h] = (unsigned)_mm256_movemask_pd(_mm256_and_pd(pos, _mm256_cmp_pd(_mm256_mul_pd(vArea, _mm256_cvtps_pd(inv[h])), vTenth, _CMP_LT_OQ)));
        }
        const __m256 vnf = _mm256_set_m128(inv[1], inv[0]);
        unsigned live = valid & (ok[0] | (ok[1] << 4));
        signed char res[8];
        for (int k = 0; k < 8; k++) res[k] = -1;
        for (int si = 0; si < nstages && live; si++) {
            const HaarSIMD::Stage &st = stages[si];
            const __m256d thr = _mm256_set1_pd((double)st.threshold);
            __m256d acc0, acc1;
            const HaarSIMD::Stump *sp = stumps + st.first;
            if (anyOrder) {
                __m256d a0 = zero, a1 = zero, b0 = zero, b1 = zero, c0 = zero, c1 = zero, d0 = zero, d1 = zero;
                int t = 0;
                for (; t + 4 <= st.ntrees; t += 4) {
                    stumpAdd8(p, vnf, opt, sp[t], a0, a1);
                    stumpAdd8(p, vnf, opt, sp[t + 1], b0, b1);
                    stumpAdd8(p, vnf, opt, sp[t + 2], c0, c1);
                    stumpAdd8(p, vnf, opt, sp[t + 3], d0, d1);
                }
                for (; t < st.ntrees; t++) stumpAdd8(p, vnf, opt, sp[t], a0, a1);
                acc0 = _mm256_add_pd(_mm256_add_pd(a0, b0), _mm256_add_pd(c0, d0));
                acc1 = _mm256_add_pd(_mm256_add_pd(a1, b1), _mm256_add_pd(c1, d1));
            } else {
                acc0 = zero; acc1 = zero;
                for (int t = 0; t < st.ntrees; t++) stumpAdd8(p, vnf, opt, sp[t], acc0, acc1);
            }
            unsigned below = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(acc0, thr, _CMP_LT_OQ)) |
                             ((unsigned)_mm256_movemask_pd(_mm256_cmp_pd(acc1, thr, _CMP_LT_OQ)) << 4);
            if (si == 0)
                for (int k = 0; k < 8; k++) if (live & below & (1u << k)) res[k] = 0;
            live &= ~below;
        }
        for (int k = 0; k < 8; k++) if (live & (1u << k)) res[k] = 1;
        std::memcpy(out + i, res, (size_t)n);
    }
}

} // namespace

bool HaarSIMD::detect(const cv::Mat &gray, std::vector<cv::Rect> &objects, double scaleFactor, int minNeighbors,
                      cv::Size minSize, cv::Size maxSize) {
    objects.clear();
    CV_Assert(gray.type() == CV_8UC1 && scaleFactor > 1);
    const cv::Size imgsz = gray.size();
    if (maxSize.height == 0 || maxSize.width == 0) maxSize = imgsz;
    if (imgsz.height < win_.height || imgsz.width < win_.width) return true;
    // detectMultiScaleNoGrouping: every scale whose window fits the image, then those within the size range.
    std::vector<float> all, scales;
    for (double factor = 1;; factor *= scaleFactor) {
        cv::Size ws(cvRound(win_.width * factor), cvRound(win_.height * factor));
        if (ws.width > imgsz.width || ws.height > imgsz.height) break;
        all.push_back((float)factor);
    }
    for (float f : all) {
        cv::Size ws(cvRound(win_.width * f), cvRound(win_.height * f));
        if (ws.width > maxSize.width || ws.height > maxSize.height) break;
        if (ws.width < minSize.width || ws.height < minSize.height) continue;
        scales.push_back(f);
    }
    if (scales.empty()) return false;
    // FeatureEvaluator::updateScaleData: the largest level sets the buffer width; 64 ints of padding
    // on the right (32 per half row in layout 1) and spare rows keep the masked-off lanes' loads inside
    // the buffer.
    const int w0 = cvRound(imgsz.width / scales[0]), h0 = cvRound(imgsz.height / scales[0]);
    const int stride = (int)cv::alignSize(w0 + 1, 16) + 64;
    prepare(stride);
    const size_t need = (size_t)stride * (h0 + 3);
    if (sum_.size() < need) { sum_.assign(need, 0); sqsum_.assign(need, 0); }
    std::vector<cv::Rect> candidates;
    const double area = (double)(win_.width - 2) * (win_.height - 2);
    for (float sc : scales) {
        cv::Size sz(cvRound(imgsz.width / sc), cvRound(imgsz.height / sc));
        const int ystep = sc >= 2 ? 1 : 2;
        const cv::Size szw(std::max(sz.width + 1 - win_.width, 0), std::max(sz.height + 1 - win_.height, 0));
        if (szw.width == 0 || szw.height == 0) continue;
        small_.create(sz, CV_8U);
        cv::resize(gray, small_, sz, 1. / sc, 1. / sc, cv::INTER_LINEAR_EXACT);
        cv::Mat sum(sz.height + 1, sz.width + 1, CV_32S, sum_.data(), (size_t)stride * sizeof(int));
        cv::Mat sqsum(sz.height + 1, sz.width + 1, CV_32S, sqsum_.data(), (size_t)stride * sizeof(int));
        cv::integral(small_, sum, sqsum, cv::noArray(), CV_32S, CV_32S);
        if (ystep == 2) {
            // Layout 1 (see prepare): even columns, then odd ones, row by row in place (one row of
            // scratch instead of two more image-sized buffers).
            const int half = stride / 2, cols = sz.width + 1;
            rowScratch_.resize((size_t)cols);
            for (int *plane : {sum_.data(), sqsum_.data()}) {
                for (int y = 0; y <= sz.height; y++) {
                    int *r = plane + (size_t)y * stride;
                    std::memcpy(rowScratch_.data(), r, (size_t)cols * sizeof(int));
                    for (int x = 0; x < cols; x++) r[(x >> 1) + (x & 1) * half] = rowScratch_[x];
                }
            }
        }
        const int *psum = sum_.data(), *psq = sqsum_.data();
        const cv::Size winSize(cvRound(win_.width * sc), cvRound(win_.height * sc));
        const int count = (szw.width + ystep - 1) / ystep;
        row_.resize((size_t)count + 16);
        for (int y = 0; y < szw.height; y += ystep) {
            (isa_ == ISA::avx512 ? evalRow : evalRow8)(psum + (size_t)y * stride, psq + (size_t)y * stride, count, layouts_[ystep - 1],
                                                       area, stages_.data(), (int)stages_.size(), stumps_.data(), anyOrder_, row_.data());
            // CascadeClassifierInvoker: after a first-stage rejection the next position is skipped.
            for (int x = 0; x < szw.width; x += ystep) {
                int r = row_[x / ystep];
                if (r > 0) candidates.push_back(cv::Rect(cvRound(x * sc), cvRound(y * sc), winSize.width, winSize.height));
                if (r == 0) x += ystep;
            }
        }
    }
    cv::groupRectangles(candidates, minNeighbors, 0.2);
    // CascadeClassifier::detectMultiScale clips the groups to the image.
    const cv::Rect whole(0, 0, imgsz.width, imgsz.height);
    for (const cv::Rect &r : candidates) {
        cv::Rect c = r & whole;
        if (c.area() > 0) objects.push_back(c);
    }
    return true;
}

} // namespace emo

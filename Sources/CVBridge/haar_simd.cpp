// See haar_simd.hpp. Exactness notes refer to OpenCV 4.6 modules/objdetect/src/cascadedetect.{cpp,hpp}.
#include "haar_simd.hpp"
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <immintrin.h>
#include <cmath>
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

std::unique_ptr<HaarSIMD> HaarSIMD::load(const std::string &path) {
    if (!__builtin_cpu_supports("avx512f")) return nullptr;
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
    return h;
}

void HaarSIMD::prepare(int stride) {
    if (stride == optStride_) return;
    optStride_ = stride;
    auto corners = [stride](int *o, int x, int y, int w, int h) {
        o[0] = y * stride + x;             // CV_SUM_OFS: top-left, top-right, bottom-left, bottom-right
        o[1] = y * stride + x + w;
        o[2] = (y + h) * stride + x;
        o[3] = (y + h) * stride + x + w;
    };
    corners(nofs_, 1, 1, win_.width - 2, win_.height - 2); // normrect
    opt_.resize(features_.size());
    for (size_t i = 0; i < features_.size(); i++) {
        for (int k = 0; k < 3; k++) {
            const Rect &r = features_[i].r[k];
            corners(opt_[i].ofs[k], r.x, r.y, r.w, r.h);
            opt_[i].w[k] = r.weight;
        }
    }
}

namespace {

// Sixteen int32 values at p[0], p[step], …, p[15 * step] for step 1 or 2.
__attribute__((target("avx512f"))) inline __m512i load16(const int *p, int step) {
    if (step == 1) return _mm512_loadu_si512(p);
    static const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_epi32(_mm512_loadu_si512(p), even, _mm512_loadu_si512(p + 16));
}

__attribute__((target("avx512f"))) inline __m512i rectSum(const int *p, const int *o, int step) {
    // CALC_SUM_OFS: p[o0] - p[o1] - p[o2] + p[o3], in wrapping int32 arithmetic.
    __m512i a = load16(p + o[0], step), b = load16(p + o[1], step), c = load16(p + o[2], step), d = load16(p + o[3], step);
    return _mm512_add_epi32(_mm512_sub_epi32(_mm512_sub_epi32(a, b), c), d);
}

__attribute__((target("avx512f"))) inline __m256 high8(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

// Results for `count` windows at x = x0, x0 + step, … of one row (pointers at the row's x0):
// 1 passed every stage, 0 rejected by the first stage, -1 otherwise (CascadeClassifierImpl::runAt).
__attribute__((target("avx512f")))
void evalRow(const int *sum, const int *sq, int count, int step, const int *nofs, double area,
             const HaarSIMD::Stage *stages, int nstages, const HaarSIMD::Stump *stumps,
             const HaarSIMD::OptFeature *opt, signed char *out) {
    const __m512d vArea = _mm512_set1_pd(area), vTenth = _mm512_set1_pd(1e-1), one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
    for (int i = 0; i < count; i += 16) {
        const int *p = sum + i * step, *q = sq + i * step;
        int n = count - i < 16 ? count - i : 16;
        __mmask16 valid = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
        // HaarEvaluator::setWindow: variance normalisation over the window less a 1-pixel border;
        // a window with nf <= 0 or area / sqrt(nf) >= 0.1 is rejected before the stages (-1).
        __m512i vs = rectSum(p, nofs, step), vq = rectSum(q, nofs, step);
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
            __m512d acc0 = zero, acc1 = zero;
            const HaarSIMD::Stump *sp = stumps + st.first;
            for (int t = 0; t < st.ntrees; t++) {
                const HaarSIMD::OptFeature &f = opt[sp[t].feature];
                // OptFeature::calc: w0 * s0 + w1 * s1 (+ w2 * s2), each product and sum rounded to float.
                __m512 ret = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(f.w[0]), _mm512_cvtepi32_ps(rectSum(p, f.ofs[0], step))),
                                           _mm512_mul_ps(_mm512_set1_ps(f.w[1]), _mm512_cvtepi32_ps(rectSum(p, f.ofs[1], step))));
                if (f.w[2] != 0.0f)
                    ret = _mm512_add_ps(ret, _mm512_mul_ps(_mm512_set1_ps(f.w[2]), _mm512_cvtepi32_ps(rectSum(p, f.ofs[2], step))));
                __m512 value = _mm512_mul_ps(ret, vnf);
                __mmask16 lt = _mm512_cmp_ps_mask(value, _mm512_set1_ps(sp[t].threshold), _CMP_LT_OQ);
                __m512 leaf = _mm512_mask_blend_ps(lt, _mm512_set1_ps(sp[t].right), _mm512_set1_ps(sp[t].left));
                acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(leaf)));
                acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(high8(leaf)));
            }
            const __m512d thr = _mm512_set1_pd((double)st.threshold);
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
    // on the right (and a spare row) keep the masked-off lanes' loads inside the buffer.
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
        const cv::Size winSize(cvRound(win_.width * sc), cvRound(win_.height * sc));
        const int count = (szw.width + ystep - 1) / ystep;
        row_.resize((size_t)count + 16);
        for (int y = 0; y < szw.height; y += ystep) {
            evalRow(sum_.data() + (size_t)y * stride, sqsum_.data() + (size_t)y * stride, count, ystep, nofs_, area,
                    stages_.data(), (int)stages_.size(), stumps_.data(), opt_.data(), row_.data());
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

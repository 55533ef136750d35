import CKernels

/// A 1×1 expansion fused into the depthwise convolution after it (`ConvLayer.fusedExpand`), the
/// first two layers of MobileNetV2's inverted residual blocks. Unfused, the expansion writes its
/// whole map and the depthwise layer reads it back: at 112² and 56² that map (4.8 and 1.8 MB) is
/// larger than this core's L2 (2 MiB), and both layers ran at memory speed (expansion 16 → 96 at
/// 112²: 0.70 ms for 19 M multiply-adds, 27 GMAC/s; the depthwise layer after it 0.35 ms).
/// Here each band of output rows expands just the input rows it reads into scratch (the packed
/// GEMM's B matrix is the band of the NCHW input, rows `h·w` apart) and runs the depthwise kernel
/// on that band while it is in cache. Bands overlap by the rows their windows share (one at stride
/// 2, two at stride 1); those rows are expanded twice (≤ 7 % more expansion work at the band
/// size below) rather than carried, which would need the depthwise kernels to read a ring.
///
/// Measured on single blocks (`bench inference`, median of 5 alternating runs of 200): 16 → 96 at
/// 112², stride 2, 1.11 → 0.90 ms; 96 → 576 at 14² 0.26 → 0.21; 24 → 144 at 56² (stride 1 and 2),
/// 192 at 28² and 576 at 14² stride 2 unchanged within noise. MobileNetV2 in the net: 0.89 of the
/// unfused build (`tools/bench/engine-ab.sh`, median of 15 alternating rounds).
extension ConvLayer {
    /// Expanded floats one band holds at most: 1 MiB, half of L2, leaving room for the depthwise
    /// kernel's padded copies and its output rows. On the 112² block above: bands of 128 Ki floats
    /// 0.95 ms (more rows expanded twice), 512 Ki 1.01, 1 Mi 1.30 (past L2), 256 Ki 0.90.
    static let expandBandFloats = 1 << 18

    /// Output rows per band for geometry `g` (of the expanded map): as many as keep the band's
    /// expanded input rows within `expandBandFloats`, at least one.
    func expandBandRows(_ g: ConvGeometry) -> Int {
        let inputRows = Self.expandBandFloats / max(1, g.c * g.w)
        let rows = (inputRows - (kh - 1) * dilH - 1) / strideH + 1
        return min(g.oh, max(1, rows))
    }

    /// The fused path on the input `x` of the expansion (n × [cin][h][w]); `g` is the depthwise
    /// convolution's geometry on the expanded map.
    func expandDepthwise(_ level: Kernels.Level, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                         _ g: ConvGeometry, _ activation: FusedActivation) {
        guard let e = fusedExpand else { preconditionFailure("Conv path expand+depthwise without an expansion") }
        let rows = expandBandRows(g)
        let span = (rows - 1) * strideH + (kh - 1) * dilH + 1
        let band = scratch.lease(g.c * span * g.w)
        let work = scratch.lease(Int(emo_dw_workspace(Int32(kh), Int32(kw), Int32(strideH), Int32(strideW), Int32(dilH),
                                                      Int32(dilW), Int32(rows), Int32(g.ow))))
        defer { scratch.giveBack(band); scratch.giveBack(work) }
        let cin = e.inChannelsPerGroup, hw = g.h * g.w, ohw = g.oh * g.ow
        for img in 0..<g.n {
            var oy0 = 0
            while oy0 < g.oh {
                let oy1 = min(g.oh, oy0 + rows)
                let top = oy0 * strideH - g.pads[0]   // input row of the band's first window row
                let y0 = max(0, top), y1 = min(g.h, (oy1 - 1) * strideH - g.pads[0] + (kh - 1) * dilH + 1)
                if y1 > y0 {
                    e.expandRows(level, x + img * cin * hw + y0 * g.w, ldb: hw, count: (y1 - y0) * g.w, into: band.pointer)
                }
                depthwiseBand(level, band.pointer, g, rows: max(0, y1 - y0), padT: y0 - top, oy0..<oy1,
                              out + img * g.c * ohw, work.pointer, activation)
                oy0 = oy1
            }
        }
    }

    /// This 1×1 convolution of `count` consecutive pixels of each input plane (planes `ldb` apart)
    /// into `dst` ([outChannels][count]), bias and activation applied.
    private func expandRows(_ level: Kernels.Level, _ x: UnsafePointer<Float>, ldb: Int, count: Int,
                            into dst: UnsafeMutablePointer<Float>) {
        let (act, p0, p1) = ConvEpilogue(activation: activation).kernelActivation
        let rc = packed.withUnsafeBufferPointer { ap in
            bias.withUnsafeBufferPointer { bp in
                emo_gemm_packed(level.rawValue, Int32(outChannels), Int32(count), Int32(inChannelsPerGroup), ap.baseAddress!,
                                x, Int32(ldb), dst, Int32(count), bp.baseAddress!, act, p0, p1, nil)
            }
        }
        precondition(rc == 0, "emo_gemm_packed rejected level \(level.name)")
    }

    /// Output rows `oys` of every channel from a band of `rows` input rows whose first window row
    /// is `padT` rows above it (rows outside the band are the map's padding); a whole image is
    /// the band of all its rows (`simdDepthwise`).
    func depthwiseBand(_ level: Kernels.Level, _ band: UnsafePointer<Float>, _ g: ConvGeometry, rows: Int, padT: Int,
                               _ oys: Range<Int>, _ out: UnsafeMutablePointer<Float>, _ work: UnsafeMutablePointer<Float>,
                               _ activation: FusedActivation) {
        let (act, p0, p1) = ConvEpilogue(activation: activation).kernelActivation
        let rc = weights.withUnsafeBufferPointer { wp in
            bias.withUnsafeBufferPointer { bp in
                emo_depthwise(level.rawValue, band, Int32(g.c), Int32(rows), Int32(g.w), wp.baseAddress!, Int32(kh), Int32(kw),
                              Int32(strideH), Int32(strideW), Int32(dilH), Int32(dilW), Int32(padT), Int32(g.pads[1]),
                              Int32(oys.count), Int32(g.ow), bp.baseAddress!, act, p0, p1, out + oys.lowerBound * g.ow,
                              g.oh * g.ow, work)
            }
        }
        precondition(rc == 0, "emo_depthwise rejected level \(level.name)")
    }
}

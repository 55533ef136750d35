/// Element-wise Add, Sub, Mul, Div with numpy broadcasting.
final class BinaryLayer: Layer {
    enum Op { case add, sub, mul, div }
    let name: String
    let op: Op
    var activation: FusedActivation = .none

    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(2)
        switch ctx.op {
        case "Add": op = .add
        case "Sub": op = .sub
        case "Mul": op = .mul
        case "Div": op = .div
        default: throw InferenceError.unsupportedOperator(op: ctx.op, node: ctx.name)
        }
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        guard let s = ShapeMath.broadcast(inputs[0], inputs[1]) else {
            throw InferenceError.shapeMismatch(node: name, detail: "cannot broadcast \(inputs[0]) with \(inputs[1])")
        }
        return [s]
    }

    @inline(__always)
    private func combine(_ a: Float, _ b: Float) -> Float {
        switch op {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        }
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        let shape = outputShapes[0]
        var a = inputs.take(0)
        let b = inputs[1]
        if a.shape == shape && b.shape == shape {
            // Fast path (residual connections): same shapes, reuse a's storage.
            a.data.withUnsafeMutableBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    let n = ap.count
                    switch op {
                    case .add: for i in 0..<n { ap[i] += bp[i] }
                    case .sub: for i in 0..<n { ap[i] -= bp[i] }
                    case .mul: for i in 0..<n { ap[i] *= bp[i] }
                    case .div: for i in 0..<n { ap[i] /= bp[i] }
                    }
                    activation.apply(ap.baseAddress!, count: n)
                }
            }
            return [a]
        }
        let ea = Broadcast.strides(a.shape, to: shape), eb = Broadcast.strides(b.shape, to: shape)
        var y = Tensor(uninitialized: shape)
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    Broadcast.forEach(shape: shape, stridesA: ea, stridesB: eb) { o, ia, ib in
                        yp[o] = combine(ap[ia], bp[ib])
                    }
                    activation.apply(yp.baseAddress!, count: yp.count)
                }
            }
        }
        return [y]
    }
}

/// Broadcasting index arithmetic shared by element-wise layers.
enum Broadcast {
    /// Strides of `shape` as seen from `target` (0 on broadcast dims).
    static func strides(_ shape: [Int], to target: [Int]) -> [Int] {
        let r = target.count
        var st = [Int](repeating: 0, count: r)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            let ti = i + (r - shape.count)
            st[ti] = shape[i] == 1 ? 0 : acc
            acc *= shape[i]
        }
        return st
    }

    /// Visits every output index with the matching input offsets.
    @inline(__always)
    static func forEach(shape: [Int], stridesA: [Int], stridesB: [Int], _ body: (Int, Int, Int) -> Void) {
        let r = shape.count
        let total = shape.reduce(1, *)
        if total == 0 { return }
        if r == 0 { body(0, 0, 0); return }
        var idx = [Int](repeating: 0, count: r)
        var ia = 0, ib = 0
        let last = r - 1, n = shape[last], sa = stridesA[last], sb = stridesB[last]
        var o = 0
        while o < total {
            var a = ia, b = ib
            for _ in 0..<n { body(o, a, b); o += 1; a += sa; b += sb }
            // Increment the outer index (odometer over dims 0..<last).
            var d = last - 1
            while d >= 0 {
                idx[d] += 1
                ia += stridesA[d]; ib += stridesB[d]
                if idx[d] < shape[d] { break }
                ia -= stridesA[d] * shape[d]; ib -= stridesB[d] * shape[d]
                idx[d] = 0
                d -= 1
            }
        }
    }

    static func expand(_ t: Tensor, to shape: [Int]) -> Tensor {
        if t.shape == shape { return t }
        let st = strides(t.shape, to: shape)
        var y = Tensor(uninitialized: shape)
        y.data.withUnsafeMutableBufferPointer { yp in
            t.data.withUnsafeBufferPointer { tp in
                forEach(shape: shape, stridesA: st, stridesB: st) { o, i, _ in yp[o] = tp[i] }
            }
        }
        return y
    }
}

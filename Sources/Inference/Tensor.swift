/// A dense float32 tensor in row-major (NCHW for images) layout.
public struct Tensor: Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "tensor data does not match shape \(shape)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// Allocates without initialising to a meaningful value; callers overwrite every element.
    @inline(__always)
    init(uninitialized shape: [Int]) {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.data = [Float](unsafeUninitializedCapacity: n) { buffer, count in
            #if DEBUG
            // Debug builds (the tests) poison the memory, so that an output a kernel forgets to write
            // fails the fast-vs-reference tests instead of keeping a freed buffer's right answer.
            buffer.initialize(repeating: .nan)
            #endif
            count = n
        }
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// Same data viewed with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }
}

/// Shape helpers used by the loader and the layers.
enum ShapeMath {
    /// Product of dims with overflow checking (the loader sees untrusted sizes).
    static func product(_ dims: [Int]) -> Int? {
        var p = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (r, o) = p.multipliedReportingOverflow(by: d)
            if o { return nil }
            p = r
        }
        return p
    }

    /// Numpy-style broadcast of two shapes, nil when incompatible.
    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    static func normalizeAxis(_ axis: Int, rank: Int) -> Int? {
        let a = axis < 0 ? axis + rank : axis
        return (0..<max(rank, 1)).contains(a) ? a : nil
    }
}

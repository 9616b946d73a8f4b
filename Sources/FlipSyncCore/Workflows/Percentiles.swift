/// Nearest-rank percentiles of a sample.
struct Percentiles {
    var p50: Int64 = 0, p95: Int64 = 0, max: Int64 = 0

    init(_ values: [Int64]) {
        guard !values.isEmpty else { return }
        let sorted = values.sorted()
        func rank(_ q: Double) -> Int64 { sorted[Swift.min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)] }
        p50 = rank(0.5)
        p95 = rank(0.95)
        max = sorted[sorted.count - 1]
    }
}

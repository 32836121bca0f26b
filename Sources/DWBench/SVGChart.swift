import Foundation

/// Minimal SVG charts written by the project itself (no plotting dependency): a line chart of series
/// over a numeric x axis with optional horizontal reference lines, and a grouped bar chart.
enum SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                          "#7f7f7f", "#bcbd22"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// A "nice" axis maximum ≥ `value` (1, 2 or 5 × 10ⁿ).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let exp = pow(10, floor(log10(value)))
        for m in [1.0, 2.0, 5.0, 10.0] where m * exp >= value { return m * exp }
        return 10 * exp
    }

    static func frame(title: String, width: Int, height: Int, body: String) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="20" text-anchor="middle" font-size="15">\(escape(title))</text>
        \(body)
        </svg>

        """
    }

    static func lineChart(title: String, xLabel: String, yLabel: String, series: [Series],
                          references: [(label: String, y: Double)] = [], width: Int = 820, height: Int = 480) -> String {
        let (left, right, top, bottom) = (70.0, 200.0, 40.0, 50.0)
        let plotW = Double(width) - left - right, plotH = Double(height) - top - bottom
        let xs = series.flatMap { $0.points.map(\.x) }
        let (xMin, xMax) = (xs.min() ?? 0, max((xs.max() ?? 1), (xs.min() ?? 0) + 1))
        let yMax = niceCeiling(max(series.flatMap { $0.points.map(\.y) }.max() ?? 1, references.map(\.y).max() ?? 0) * 1.05)
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotW }
        func py(_ y: Double) -> Double { top + plotH - y / yMax * plotH }
        var body = ""
        for i in 0...5 {
            let y = yMax * Double(i) / 5
            body += "<line x1=\"\(left)\" y1=\"\(py(y))\" x2=\"\(left + plotW)\" y2=\"\(py(y))\" stroke=\"#ddd\"/>"
            body += "<text x=\"\(left - 6)\" y=\"\(py(y) + 4)\" text-anchor=\"end\">\(fmt(y, 0))</text>\n"
        }
        for x in Set(xs).sorted() {
            body += "<text x=\"\(px(x))\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\">\(fmt(x, 0))</text>"
        }
        body += "<line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(left + plotW)\" y2=\"\(top + plotH)\" stroke=\"black\"/>"
        body += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotH)\" stroke=\"black\"/>\n"
        body += "<text x=\"\(left + plotW / 2)\" y=\"\(Double(height) - 12)\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        body += "<text transform=\"translate(18,\(top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for ref in references {
            body += "<line x1=\"\(left)\" y1=\"\(py(ref.y))\" x2=\"\(left + plotW)\" y2=\"\(py(ref.y))\" stroke=\"black\" stroke-dasharray=\"6,4\"/>"
            body += "<text x=\"\(left + plotW - 4)\" y=\"\(py(ref.y) - 5)\" text-anchor=\"end\">\(escape(ref.label))</text>\n"
        }
        for (i, s) in series.enumerated() {
            let color = palette[i % palette.count]
            let pts = s.points.sorted { $0.x < $1.x }.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ")
            body += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(pts)\"/>"
            for p in s.points { body += "<circle cx=\"\(px(p.x))\" cy=\"\(py(p.y))\" r=\"3\" fill=\"\(color)\"/>" }
            let ly = top + 14 + Double(i) * 18
            body += "<rect x=\"\(left + plotW + 14)\" y=\"\(ly - 9)\" width=\"12\" height=\"12\" fill=\"\(color)\"/>"
            body += "<text x=\"\(left + plotW + 32)\" y=\"\(ly + 1)\">\(escape(s.name))</text>\n"
        }
        return frame(title: title, width: width, height: height, body: body)
    }

    /// Bars per category, one per series; missing values are left out.
    static func barChart(title: String, yLabel: String, categories: [String], series: [(name: String, values: [Double?])],
                         width: Int = 900, height: Int = 500) -> String {
        let (left, right, top, bottom) = (70.0, 190.0, 40.0, 110.0)
        let plotW = Double(width) - left - right, plotH = Double(height) - top - bottom
        let yMax = niceCeiling((series.flatMap { $0.values.compactMap { $0 } }.max() ?? 1) * 1.05)
        func py(_ y: Double) -> Double { top + plotH - y / yMax * plotH }
        let groupW = plotW / Double(max(1, categories.count))
        let barW = groupW * 0.8 / Double(max(1, series.count))
        var body = ""
        for i in 0...5 {
            let y = yMax * Double(i) / 5
            body += "<line x1=\"\(left)\" y1=\"\(py(y))\" x2=\"\(left + plotW)\" y2=\"\(py(y))\" stroke=\"#ddd\"/>"
            body += "<text x=\"\(left - 6)\" y=\"\(py(y) + 4)\" text-anchor=\"end\">\(fmt(y, 0))</text>\n"
        }
        for (c, name) in categories.enumerated() {
            let x0 = left + Double(c) * groupW + groupW * 0.1
            for (s, ser) in series.enumerated() {
                guard c < ser.values.count, let v = ser.values[c] else { continue }
                body += "<rect x=\"\(x0 + Double(s) * barW)\" y=\"\(py(v))\" width=\"\(barW * 0.95)\" height=\"\(top + plotH - py(v))\" fill=\"\(palette[s % palette.count])\"/>"
            }
            let cx = left + (Double(c) + 0.5) * groupW
            body += "<text transform=\"translate(\(cx),\(top + plotH + 12)) rotate(35)\" text-anchor=\"start\" font-size=\"11\">\(escape(name))</text>\n"
        }
        body += "<line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(left + plotW)\" y2=\"\(top + plotH)\" stroke=\"black\"/>"
        body += "<text transform=\"translate(18,\(top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for (s, ser) in series.enumerated() {
            let ly = top + 14 + Double(s) * 18
            body += "<rect x=\"\(left + plotW + 14)\" y=\"\(ly - 9)\" width=\"12\" height=\"12\" fill=\"\(palette[s % palette.count])\"/>"
            body += "<text x=\"\(left + plotW + 32)\" y=\"\(ly + 1)\">\(escape(ser.name))</text>\n"
        }
        return frame(title: title, width: width, height: height, body: body)
    }
}

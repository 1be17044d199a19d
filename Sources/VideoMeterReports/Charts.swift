import VideoMeter

/// Geometry of the two SVG charts in the HTML report, computed from integer micro-dollars with
/// integer arithmetic, so the template only places rectangles and labels.
public struct Charts: Sendable {
    /// A vertical bar of the daily chart.
    public struct DayBar: Sendable {
        public var x, y, width, height: Int64
        /// Where the day's label sits (centre of the bar) and its text (day of month).
        public var labelX: Int64
        public var label: String
        public var date: String
        public var charged: String
    }

    /// A horizontal gridline of the daily chart and the amount it marks.
    public struct Gridline: Sendable {
        public var y: Int64
        public var label: String
    }

    /// A horizontal bar of the per-model chart.
    public struct ModelBar: Sendable {
        public var y, textY, width, valueX: Int64
        /// `model resolution (provider)`, shortened with `…` past ``Charts/modelLabelMaxCharacters``.
        public var label: String
        /// The label in full, for the bar's tooltip.
        public var fullLabel: String
        public var charged: String
    }

    public var dailyWidth: Int64 = 760
    public var dailyHeight: Int64 = 230
    public var plotLeft: Int64 = 70
    public var plotRight: Int64 = 750
    public var plotTop: Int64 = 12
    public var plotBottom: Int64 = 192
    public var dayLabelY: Int64 = 208
    public var dayBars: [DayBar] = []
    /// The days after the forecast's day, each at the forecast's run rate: drawn dashed.
    public var projectionBars: [DayBar] = []
    public var hasProjection = false
    public var gridlines: [Gridline] = []
    public var hasDailySpend = false

    public var modelWidth: Int64 = 760
    public var modelHeight: Int64 = 0
    public var modelLabelX: Int64 = 250
    public var modelBarX: Int64 = 260
    public var modelBars: [ModelBar] = []
    public var hasModelSpend = false

    /// Gridline labels: whole cents.
    static let cents = InvoiceRounding(scale: 2, rule: .halfUp)
    static let modelBarMaxWidth: Int64 = 380
    static let modelRowHeight: Int64 = 28
    /// The label column grows with the longest label (about 6 px a character at 11 px) up to this many characters.
    static let modelLabelMaxCharacters = 70
    /// Room right of a bar for its amount.
    static let modelValueRoom: Int64 = 100

    init(_ report: TeamReport) {
        let plotHeight = plotBottom - plotTop
        let projected = report.forecast.flatMap { forecast in report.forecastToday.map { (forecast.ratePerDayMicro, $0) } }
        let peakDay = max(report.daily.map(\.chargedMicro).max() ?? 0, projected?.0 ?? 0)
        hasDailySpend = peakDay > 0
        // The axis tops out at the peak rounded up to a whole cent, so gridline labels are cents.
        let cent = Self.cents.unitMicro
        let axisTop = max(cent, (peakDay + cent - 1) / cent * cent)
        let dayCount = Int64(max(report.daily.count, 1))
        let slot = (plotRight - plotLeft) / dayCount
        let gap = max(1, slot / 5)
        for (index, day) in report.daily.enumerated() {
            let barHeight = day.chargedMicro > 0 ? max(1, day.chargedMicro * plotHeight / axisTop) : 0
            let x = plotLeft + Int64(index) * slot + gap / 2
            dayBars.append(DayBar(
                x: x, y: plotBottom - barHeight, width: slot - gap, height: barHeight,
                labelX: x + (slot - gap) / 2, label: String(Int(day.date.suffix(2)) ?? index + 1),
                date: day.date, charged: Money.format(micro: day.chargedMicro)
            ))
            if let (rate, today) = projected, index > today, rate > 0 {
                let height = max(1, rate * plotHeight / axisTop)
                projectionBars.append(DayBar(
                    x: x, y: plotBottom - height, width: slot - gap, height: height, labelX: x + (slot - gap) / 2,
                    label: "", date: day.date, charged: Money.format(micro: rate)))
            }
        }
        hasProjection = !projectionBars.isEmpty
        for quarter in Int64(0)...4 {
            let amountMicro = axisTop * quarter / 4
            gridlines.append(Gridline(
                y: plotBottom - plotHeight * quarter / 4,
                label: Self.cents.format(Self.cents.round(amountMicro))
            ))
        }

        let lines = report.lines.filter { $0.chargedMicro > 0 }
        let peakLine = lines.map(\.chargedMicro).max() ?? 0
        hasModelSpend = peakLine > 0
        let labels = lines.map { "\($0.model) \($0.resolution) (\($0.provider))" }
        let longest = min(labels.map(\.count).max() ?? 0, Self.modelLabelMaxCharacters)
        modelLabelX = max(modelLabelX, Int64(longest) * 6 + 10)
        modelBarX = modelLabelX + 10
        let barMaxWidth = min(Self.modelBarMaxWidth, modelWidth - modelBarX - Self.modelValueRoom)
        for (index, line) in lines.enumerated() {
            let width = max(1, line.chargedMicro * barMaxWidth / max(peakLine, 1))
            let y = 8 + Int64(index) * Self.modelRowHeight
            let label = labels[index]
            modelBars.append(ModelBar(
                y: y, textY: y + 15, width: width, valueX: modelBarX + width + 6,
                label: label.count > Self.modelLabelMaxCharacters ? label.prefix(Self.modelLabelMaxCharacters - 1) + "…" : label,
                fullLabel: label, charged: Money.format(micro: line.chargedMicro)
            ))
        }
        modelHeight = 16 + Int64(lines.count) * Self.modelRowHeight
    }
}

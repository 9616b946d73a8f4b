extension Money {
    /// Micro-units in one minor unit of this currency (10,000 for cents).
    var microsPerMinorUnit: Int64 { Money.pow10(6 - currency.minorUnitDigits) }

    /// The largest whole-minor-unit amount not above this one.
    var roundedDownToMinorUnit: Money {
        Money(micros: Money.floorDivide(micros, microsPerMinorUnit) * microsPerMinorUnit, currency: currency)
    }

    /// The smallest whole-minor-unit amount not below this one.
    var roundedUpToMinorUnit: Money {
        Money(micros: -Money.floorDivide(-micros, microsPerMinorUnit) * microsPerMinorUnit, currency: currency)
    }

    /// Division rounding toward negative infinity (Swift's `/` rounds toward zero).
    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let (q, r) = a.quotientAndRemainder(dividingBy: b)
        return (r != 0 && (r < 0) != (b < 0)) ? q - 1 : q
    }
}

/// A real, playable MP4: one 16x16 grey H.264 frame (an I_PCM macroblock) lasting one second.
///
/// It is built in code rather than shipped as a resource: `ftyp`, `moov` (one `avc1` video track
/// with its sample tables) and `mdat`, about 700 bytes that `file`, `ffprobe` and players accept.
public enum SampleVideo {
    /// The file's bytes.
    public static let mp4: [UInt8] = build()

    static let width: UInt16 = 16
    static let height: UInt16 = 16
    static let timescale: UInt32 = 1000
    static let durationUnits: UInt32 = 1000

    // H.264 Baseline, level 1.0, 16x16, POC type 2, one reference frame.
    static let sps: [UInt8] = [0x67, 0x42, 0xC0, 0x0A, 0xDA, 0x79]
    static let pps: [UInt8] = [0x68, 0xCE, 0x3C, 0x80]

    private static func build() -> [UInt8] {
        let sample = lengthPrefixed(idrSlice())
        let ftyp = box("ftyp", Array("isom".utf8) + u32(0x200) + Array("isomiso2avc1mp41".utf8))
        // The chunk offset depends on the size of moov, whose size does not depend on the offset.
        let moovSize = moov(chunkOffset: 0, sampleSize: UInt32(sample.count)).count
        let offset = UInt32(ftyp.count + moovSize + 8)
        return ftyp + moov(chunkOffset: offset, sampleSize: UInt32(sample.count)) + box("mdat", sample)
    }

    private static func moov(chunkOffset: UInt32, sampleSize: UInt32) -> [UInt8] {
        let matrix = u32(0x0001_0000) + u32(0) + u32(0) + u32(0) + u32(0x0001_0000) + u32(0)
            + u32(0) + u32(0) + u32(0x4000_0000)
        let mvhd = fullBox("mvhd", u32(0) + u32(0) + u32(timescale) + u32(durationUnits) + u32(0x0001_0000)
            + u16(0x0100) + zeros(10) + matrix + zeros(24) + u32(2))
        let tkhd = fullBox("tkhd", flags: 3, u32(0) + u32(0) + u32(1) + u32(0) + u32(durationUnits) + zeros(8)
            + u16(0) + u16(0) + u16(0) + u16(0) + matrix + u32(UInt32(width) << 16) + u32(UInt32(height) << 16))
        let mdhd = fullBox("mdhd", u32(0) + u32(0) + u32(timescale) + u32(durationUnits) + u16(0x55C4) + u16(0))
        let hdlr = fullBox("hdlr", u32(0) + Array("vide".utf8) + zeros(12) + Array("VideoHandler".utf8) + [0])
        let vmhd = fullBox("vmhd", flags: 1, zeros(8))
        let dinf = box("dinf", fullBox("dref", u32(1) + fullBox("url ", flags: 1, [])))
        let avcC = box("avcC", [1, 0x42, 0xC0, 0x0A, 0xFF, 0xE1] + u16(UInt16(sps.count)) + sps
            + [1] + u16(UInt16(pps.count)) + pps)
        let avc1 = box("avc1", zeros(6) + u16(1) + zeros(16) + u16(width) + u16(height) + u32(0x0048_0000)
            + u32(0x0048_0000) + u32(0) + u16(1) + zeros(32) + u16(0x0018) + u16(0xFFFF) + avcC)
        let stbl = box("stbl",
            fullBox("stsd", u32(1) + avc1)
            + fullBox("stts", u32(1) + u32(1) + u32(durationUnits))
            + fullBox("stss", u32(1) + u32(1))
            + fullBox("stsc", u32(1) + u32(1) + u32(1) + u32(1))
            + fullBox("stsz", u32(0) + u32(1) + u32(sampleSize))
            + fullBox("stco", u32(1) + u32(chunkOffset)))
        let minf = box("minf", vmhd + dinf + stbl)
        let trak = box("trak", tkhd + box("mdia", mdhd + hdlr + minf))
        return box("moov", mvhd + trak)
    }

    /// An IDR slice holding one I_PCM macroblock of mid grey.
    private static func idrSlice() -> [UInt8] {
        var bits = BitWriter()
        bits.ue(0)        // first_mb_in_slice
        bits.ue(7)        // slice_type: I (all slices)
        bits.ue(0)        // pic_parameter_set_id
        bits.u(0, 4)      // frame_num
        bits.ue(0)        // idr_pic_id
        bits.u(0, 1)      // no_output_of_prior_pics_flag
        bits.u(0, 1)      // long_term_reference_flag
        bits.se0()        // slice_qp_delta
        bits.ue(1)        // disable_deblocking_filter_idc
        bits.ue(25)       // mb_type: I_PCM
        bits.alignWithZeros()
        var rbsp = bits.bytes
        rbsp += [UInt8](repeating: 0x80, count: 256 + 128)   // luma, then both chroma planes
        rbsp.append(0x80)                                     // rbsp_stop_one_bit and alignment
        return [0x65] + escaped(rbsp)
    }

    /// Inserts emulation prevention bytes so the payload never contains a start code.
    private static func escaped(_ rbsp: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var zeroRun = 0
        for byte in rbsp {
            if zeroRun >= 2 && byte <= 3 {
                out.append(3)
                zeroRun = 0
            }
            out.append(byte)
            zeroRun = byte == 0 ? zeroRun + 1 : 0
        }
        return out
    }

    private static func lengthPrefixed(_ nal: [UInt8]) -> [UInt8] { u32(UInt32(nal.count)) + nal }

    private static func box(_ type: String, _ payload: [UInt8]) -> [UInt8] {
        u32(UInt32(8 + payload.count)) + Array(type.utf8) + payload
    }

    private static func fullBox(_ type: String, flags: UInt32 = 0, _ payload: [UInt8]) -> [UInt8] {
        box(type, u32(flags & 0x00FF_FFFF) + payload)
    }

    private static func u32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    private static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    private static func zeros(_ count: Int) -> [UInt8] { [UInt8](repeating: 0, count: count) }
}

/// Writes an H.264 bit string most significant bit first.
private struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var current: UInt8 = 0
    private var used = 0

    mutating func bit(_ value: Bool) {
        current = current << 1 | (value ? 1 : 0)
        used += 1
        if used == 8 {
            bytes.append(current)
            current = 0
            used = 0
        }
    }

    mutating func u(_ value: UInt32, _ count: Int) {
        for shift in stride(from: count - 1, through: 0, by: -1) { bit((value >> UInt32(shift)) & 1 == 1) }
    }

    /// Unsigned Exp-Golomb.
    mutating func ue(_ value: UInt32) {
        let coded = value + 1
        let length = 32 - coded.leadingZeroBitCount
        u(0, length - 1)
        u(coded, length)
    }

    /// Signed Exp-Golomb for zero.
    mutating func se0() { ue(0) }

    mutating func alignWithZeros() {
        while used != 0 { bit(false) }
    }
}

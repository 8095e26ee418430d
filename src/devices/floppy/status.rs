//! Bits of the 82077AA's registers and status bytes (82077AA datasheet,
//! "Register Description" and "Status Register Encoding").

/// Main status register.
pub const MSR_RQM: u8 = 0x80;
pub const MSR_DIO: u8 = 0x40;
pub const MSR_NON_DMA: u8 = 0x20;
pub const MSR_CMD_BUSY: u8 = 0x10;

/// Digital output register.
pub const DOR_SELECT: u8 = 0x03;
pub const DOR_NOT_RESET: u8 = 0x04;
/// PC-AT mode: INT and DRQ are driven only while set.
pub const DOR_DMA_GATE: u8 = 0x08;

/// Data-rate select register.
pub const DSR_SW_RESET: u8 = 0x80;

/// Digital input register: the selected drive's disk-change line; bits
/// 0-6 are not driven in PC-AT mode (the bus floats them high).
pub const DIR_DISK_CHANGE: u8 = 0x80;
pub const DIR_UNDRIVEN: u8 = 0x7f;

/// ST0: interrupt code, seek end, equipment check, head.
pub const ST0_ABNORMAL: u8 = 0x40;
pub const ST0_INVALID: u8 = 0x80;
pub const ST0_POLLING: u8 = 0xc0;
pub const ST0_SEEK_END: u8 = 0x20;
pub const ST0_EQUIPMENT_CHECK: u8 = 0x10;

/// ST1: end of cylinder, data error, no data, not writable, missing
/// address mark.
pub const ST1_END_OF_CYLINDER: u8 = 0x80;
pub const ST1_DATA_ERROR: u8 = 0x20;
pub const ST1_NO_DATA: u8 = 0x04;
pub const ST1_NOT_WRITABLE: u8 = 0x02;
pub const ST1_MISSING_ADDRESS_MARK: u8 = 0x01;

/// ST2: wrong cylinder, bad cylinder (0xFF).
pub const ST2_WRONG_CYLINDER: u8 = 0x10;
pub const ST2_BAD_CYLINDER: u8 = 0x02;

/// ST3: write protected, ready and two-side (always set on the 82077AA),
/// track 0.
pub const ST3_WRITE_PROTECTED: u8 = 0x40;
pub const ST3_READY: u8 = 0x20;
pub const ST3_TRACK0: u8 = 0x10;
pub const ST3_TWO_SIDE: u8 = 0x08;

/// CONFIGURE's byte: implied seek, FIFO disable, polling disable.
pub const CONFIG_EIS: u8 = 0x40;
pub const CONFIG_EFIFO: u8 = 0x20;
pub const CONFIG_POLL: u8 = 0x10;
/// After reset: FIFO disabled, polling on, threshold 1.
pub const CONFIG_DEFAULT: u8 = CONFIG_EFIFO;

/// The VERSION command's answer: an 82077AA (an enhanced controller).
pub const VERSION_82077AA: u8 = 0x90;

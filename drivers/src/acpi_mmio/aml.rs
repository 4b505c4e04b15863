//! A small, bounded AML loader and evaluator: enough of the ACPI Machine Language to build the
//! namespace of a DSDT and its SSDTs, run a device's `_INI`/`_STA` and evaluate its `_CRS`.
//!
//! Loading walks each table's term list in order, as ACPICA does: it creates scopes, devices,
//! names, methods (bodies kept for later), operation regions, fields and buffer fields, and it
//! runs module-level `If`/`Else` (the Hyper-V firmware wraps the VMBus device in
//! `If (LGreater (VCFG, Zero))`). The evaluator knows integers, strings and buffers, locals and
//! arguments, method calls, `If`/`Else`/`While`, `Store`, integer arithmetic and logic, and
//! reads of SystemMemory field units through [`PhysicalMemory`]. It never writes firmware
//! memory: a store into an operation-region field is an error.
//!
//! The input comes from the host, so everything is bounded: nesting depth, call depth, the
//! number of evaluation steps (a `While (One) {}` ends with [`AmlError::StepLimit`]), the number
//! of objects and the size of buffers. Malformed input ends the enclosing block with an
//! [`AmlError`]; blocks with a package length are skipped whole, so the rest of a table still
//! loads. Nothing here panics or indexes without a check.
//!
//! Opcodes and encodings: ACPI specification 6.4, chapter 20 ("ACPI Machine Language
//! Specification").

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::{MemoryReadError, PhysicalMemory};

/// Size of an ACPI table header; the AML byte stream starts after it.
pub const TABLE_HEADER_LENGTH: usize = 36;
/// Deepest nesting of blocks (scopes, devices, `If`, `While`), expressions and method calls
/// together (it bounds the evaluator's stack use).
const MAXIMUM_DEPTH: usize = 32;
/// Evaluation steps (opcodes evaluated) for one search, loading included.
pub const MAXIMUM_STEPS: u32 = 200_000;
/// Most named objects the namespace holds.
const MAXIMUM_OBJECTS: usize = 16_384;
/// Largest buffer or string an AML object may hold.
const MAXIMUM_BUFFER_LENGTH: u64 = 64 * 1024;
/// Bytes of buffers and strings one search may create (literals and copies together), so that
/// hostile AML cannot exhaust the kernel heap.
pub const MAXIMUM_VALUE_BYTES: usize = 2 * 1024 * 1024;
/// Widest integer field or buffer field read or written.
const MAXIMUM_FIELD_BITS: u64 = 64;
/// Operation region space SystemMemory.
const SYSTEM_MEMORY: u8 = 0;

/// A four-character name segment (`_SB_`, `VMOD`).
pub type NameSegment = [u8; 4];

/// An absolute namespace path.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct AmlPath(pub Vec<NameSegment>);

impl AmlPath {
    /// The path with `segment` appended.
    pub fn child(&self, segment: NameSegment) -> AmlPath {
        let mut segments = self.0.clone();
        segments.push(segment);
        AmlPath(segments)
    }

    /// The parent path, or `None` for the root.
    pub fn parent(&self) -> Option<AmlPath> {
        let (_, rest) = self.0.split_last()?;
        Some(AmlPath(rest.to_vec()))
    }
}

impl fmt::Display for AmlPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("\\")?;
        for (index, segment) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str(".")?;
            }
            for &byte in segment {
                let character = if byte.is_ascii_graphic() {
                    byte as char
                } else {
                    '?'
                };
                write!(formatter, "{character}")?;
            }
        }
        Ok(())
    }
}

/// Why AML could not be loaded or evaluated. Offsets count from the start of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmlError {
    /// The byte stream ends inside a term.
    Truncated(usize),
    /// A package length points past its enclosing block.
    InvalidPackageLength(usize),
    /// Bytes that should be a name are not one.
    InvalidName(usize),
    /// An opcode this evaluator does not implement (extended opcodes as `0x5Bxx`).
    UnsupportedOpcode {
        /// The opcode.
        opcode: u16,
        /// Where it is.
        offset: usize,
    },
    /// A name that is not in the namespace.
    UndefinedName(AmlPath),
    /// A name used as a value that has none (a device, a region).
    NotAValue(AmlPath),
    /// An object of the wrong type for its use (a device read as an integer, say).
    TypeMismatch(usize),
    /// A local variable read before it was written.
    UninitializedLocal(usize),
    /// The step budget ran out (a loop that does not end, or simply too much work).
    StepLimit,
    /// Blocks, expressions or method calls nest too deeply.
    DepthLimit,
    /// Too many objects, or a buffer or string too large.
    SizeLimit,
    /// A field outside its region or buffer, wider than 64 bits, or in a region that is not
    /// SystemMemory.
    InvalidField(AmlPath),
    /// A store into an operation-region field (this evaluator never writes firmware memory).
    WriteToRegion(AmlPath),
    /// A division or modulo by zero.
    DivideByZero,
    /// A region field could not be read.
    Memory(MemoryReadError),
}

impl fmt::Display for AmlError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmlError::Truncated(offset) => write!(formatter, "AML truncated at {offset:#x}"),
            AmlError::InvalidPackageLength(offset) => {
                write!(formatter, "invalid package length at {offset:#x}")
            }
            AmlError::InvalidName(offset) => write!(formatter, "invalid name at {offset:#x}"),
            AmlError::UnsupportedOpcode { opcode, offset } => {
                write!(
                    formatter,
                    "unsupported AML opcode {opcode:#x} at {offset:#x}"
                )
            }
            AmlError::UndefinedName(path) => write!(formatter, "undefined name {path}"),
            AmlError::NotAValue(path) => write!(formatter, "{path} has no value"),
            AmlError::TypeMismatch(offset) => write!(formatter, "wrong object type at {offset:#x}"),
            AmlError::UninitializedLocal(offset) => {
                write!(formatter, "uninitialized local at {offset:#x}")
            }
            AmlError::StepLimit => formatter.write_str("AML step limit reached"),
            AmlError::DepthLimit => formatter.write_str("AML nesting limit reached"),
            AmlError::SizeLimit => formatter.write_str("AML object or buffer limit reached"),
            AmlError::InvalidField(path) => write!(formatter, "invalid field {path}"),
            AmlError::WriteToRegion(path) => {
                write!(formatter, "refused store into region field {path}")
            }
            AmlError::DivideByZero => formatter.write_str("AML division by zero"),
            AmlError::Memory(error) => write!(formatter, "{error}"),
        }
    }
}

impl From<MemoryReadError> for AmlError {
    fn from(error: MemoryReadError) -> Self {
        AmlError::Memory(error)
    }
}

type Result<T> = core::result::Result<T, AmlError>;

/// A value during evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An integer (64 bits, or 32 for tables of revision < 2).
    Integer(u64),
    /// A string (without its terminating NUL).
    String(Vec<u8>),
    /// A buffer.
    Buffer(Vec<u8>),
}

/// A named object.
#[derive(Clone, Debug)]
enum Object {
    /// A device, processor, power resource or thermal zone: something with children.
    Device,
    Integer(u64),
    String(Vec<u8>),
    Buffer(Vec<u8>),
    /// Objects kept only by name (packages, mutexes, events, ...).
    Opaque,
    Method {
        table: usize,
        start: usize,
        end: usize,
        argument_count: u8,
    },
    Region {
        space: u8,
        address: u64,
        length: u64,
    },
    FieldUnit {
        region: usize,
        bit_offset: u64,
        bit_length: u64,
    },
    BufferField {
        buffer: usize,
        bit_offset: u64,
        bit_length: u64,
    },
}

/// One AML table: its bytes (header included) and its integer width.
struct Table<'a> {
    bytes: &'a [u8],
    integer_mask: u64,
}

/// A position in one table's byte stream, bounded by the end of the enclosing block.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    table: usize,
    position: usize,
    end: usize,
}

/// A name as written: root prefix, parent prefixes, segments.
#[derive(Clone, Debug)]
struct NameString {
    root: bool,
    parents: usize,
    segments: Vec<NameSegment>,
}

/// Method-local state.
struct Frame {
    locals: [Option<Value>; 8],
    arguments: Vec<Value>,
    /// The method's own path: the scope its names resolve from.
    scope: AmlPath,
    integer_mask: u64,
}

/// How a statement ended.
enum Flow {
    Normal,
    Return(Value),
    Break,
    Continue,
}

/// Where a store goes.
enum Target {
    Discard,
    Local(usize),
    Argument(usize),
    Named(usize),
}

/// The namespace built from the tables, and the evaluator that runs methods on it.
pub struct Interpreter<'a> {
    tables: Vec<Table<'a>>,
    objects: Vec<(AmlPath, Object)>,
    index: BTreeMap<AmlPath, usize>,
    memory: &'a dyn PhysicalMemory,
    steps_left: u32,
    value_bytes_left: usize,
    /// The first error met while loading (the block it happened in was skipped).
    pub first_load_error: Option<AmlError>,
}

impl<'a> Interpreter<'a> {
    /// An empty namespace reading operation regions through `memory`.
    pub fn new(memory: &'a dyn PhysicalMemory) -> Self {
        Interpreter {
            tables: Vec::new(),
            objects: Vec::new(),
            index: BTreeMap::new(),
            memory,
            steps_left: MAXIMUM_STEPS,
            value_bytes_left: MAXIMUM_VALUE_BYTES,
            first_load_error: None,
        }
    }

    /// Loads one table (header included; the caller has checked the header). Errors inside
    /// end the block they occur in and are kept in [`Self::first_load_error`].
    pub fn load_table(&mut self, bytes: &'a [u8], revision: u8) {
        let table = self.tables.len();
        self.tables.push(Table {
            bytes,
            integer_mask: if revision < 2 {
                u64::from(u32::MAX)
            } else {
                u64::MAX
            },
        });
        let cursor = Cursor {
            table,
            position: TABLE_HEADER_LENGTH,
            end: bytes.len(),
        };
        let mut frame = self.module_frame(table, AmlPath::default());
        self.load_term_list(cursor, &AmlPath::default(), &mut frame, 0);
    }

    /// Paths of all devices, in load order.
    pub fn devices(&self) -> impl Iterator<Item = &AmlPath> {
        self.objects
            .iter()
            .filter(|(_, object)| matches!(object, Object::Device))
            .map(|(path, _)| path)
    }

    /// Whether `path` names a device.
    pub fn is_device(&self, path: &AmlPath) -> bool {
        matches!(self.object_at(path), Some(Object::Device))
    }

    /// Whether `path` names a method.
    pub fn is_method(&self, path: &AmlPath) -> bool {
        matches!(self.object_at(path), Some(Object::Method { .. }))
    }

    /// The value of `path`: a named data object as it is, a method evaluated with no
    /// arguments, a field read. `Ok(None)` when the name does not exist.
    pub fn evaluate(&mut self, path: &AmlPath) -> Result<Option<Value>> {
        let Some(&index) = self.index.get(path) else {
            return Ok(None);
        };
        self.read_object(index, 0).map(Some)
    }

    fn object_at(&self, path: &AmlPath) -> Option<&Object> {
        let &index = self.index.get(path)?;
        self.objects.get(index).map(|(_, object)| object)
    }

    fn module_frame(&self, table: usize, scope: AmlPath) -> Frame {
        Frame {
            locals: Default::default(),
            arguments: Vec::new(),
            scope,
            integer_mask: self
                .tables
                .get(table)
                .map_or(u64::MAX, |table| table.integer_mask),
        }
    }

    fn record(&mut self, error: AmlError) {
        log::debug!("AML: {error}");
        if self.first_load_error.is_none() {
            self.first_load_error = Some(error);
        }
    }

    fn step(&mut self) -> Result<()> {
        self.steps_left = self.steps_left.checked_sub(1).ok_or(AmlError::StepLimit)?;
        Ok(())
    }

    /// Accounts for `length` bytes of a new buffer or string.
    fn charge(&mut self, length: usize) -> Result<()> {
        self.value_bytes_left = self
            .value_bytes_left
            .checked_sub(length)
            .ok_or(AmlError::SizeLimit)?;
        Ok(())
    }

    fn insert(&mut self, path: AmlPath, object: Object) -> Result<usize> {
        if let Some(&existing) = self.index.get(&path) {
            // ACPICA refuses a second definition (AE_ALREADY_EXISTS); keep the first.
            log::debug!("AML: {path} defined twice; keeping the first");
            return Ok(existing);
        }
        if self.objects.len() >= MAXIMUM_OBJECTS {
            return Err(AmlError::SizeLimit);
        }
        let index = self.objects.len();
        self.index.insert(path.clone(), index);
        self.objects.push((path, object));
        Ok(index)
    }

    // ----- byte-level decoding -----

    fn bytes(&self, table: usize) -> &'a [u8] {
        self.tables.get(table).map_or(&[], |table| table.bytes)
    }

    fn peek(&self, cursor: &Cursor) -> Option<u8> {
        if cursor.position >= cursor.end {
            return None;
        }
        self.bytes(cursor.table).get(cursor.position).copied()
    }

    fn byte(&self, cursor: &mut Cursor) -> Result<u8> {
        let byte = self
            .peek(cursor)
            .ok_or(AmlError::Truncated(cursor.position))?;
        cursor.position += 1;
        Ok(byte)
    }

    fn little_endian(&self, cursor: &mut Cursor, width: usize) -> Result<u64> {
        let mut value = 0u64;
        for shift in 0..width {
            value |= u64::from(self.byte(cursor)?) << (8 * shift);
        }
        Ok(value)
    }

    /// A PkgLength's value (it counts its own bytes).
    fn package_length(&self, cursor: &mut Cursor) -> Result<usize> {
        let lead = self.byte(cursor)?;
        let follow = usize::from(lead >> 6);
        if follow == 0 {
            return Ok(usize::from(lead & 0x3F));
        }
        let mut length = usize::from(lead & 0x0F);
        for index in 0..follow {
            length |= usize::from(self.byte(cursor)?) << (4 + 8 * index);
        }
        Ok(length)
    }

    /// Reads a PkgLength and returns the end of the block it measures.
    fn package_end(&self, cursor: &mut Cursor) -> Result<usize> {
        let start = cursor.position;
        let length = self.package_length(cursor)?;
        let end = start
            .checked_add(length)
            .filter(|&end| end <= cursor.end && end >= cursor.position)
            .ok_or(AmlError::InvalidPackageLength(start))?;
        Ok(end)
    }

    fn name_segment(&self, cursor: &mut Cursor) -> Result<NameSegment> {
        let start = cursor.position;
        let mut segment = [0u8; 4];
        for (index, byte) in segment.iter_mut().enumerate() {
            *byte = self.byte(cursor)?;
            let valid =
                byte.is_ascii_uppercase() || *byte == b'_' || (index > 0 && byte.is_ascii_digit());
            if !valid {
                return Err(AmlError::InvalidName(start));
            }
        }
        Ok(segment)
    }

    fn name_string(&self, cursor: &mut Cursor) -> Result<NameString> {
        let mut name = NameString {
            root: false,
            parents: 0,
            segments: Vec::new(),
        };
        match self.peek(cursor) {
            Some(b'\\') => {
                name.root = true;
                cursor.position += 1;
            }
            _ => {
                while self.peek(cursor) == Some(b'^') {
                    name.parents += 1;
                    cursor.position += 1;
                }
            }
        }
        match self.peek(cursor) {
            Some(0x00) => cursor.position += 1,
            Some(0x2E) => {
                cursor.position += 1;
                name.segments.push(self.name_segment(cursor)?);
                name.segments.push(self.name_segment(cursor)?);
            }
            Some(0x2F) => {
                cursor.position += 1;
                let count = self.byte(cursor)?;
                for _ in 0..count {
                    name.segments.push(self.name_segment(cursor)?);
                }
            }
            _ => name.segments.push(self.name_segment(cursor)?),
        }
        Ok(name)
    }

    /// The path a name denotes without the search rules (definitions, multi-segment names).
    fn lexical_path(&self, scope: &AmlPath, name: &NameString, offset: usize) -> Result<AmlPath> {
        let mut segments = if name.root {
            Vec::new()
        } else {
            let keep = scope
                .0
                .len()
                .checked_sub(name.parents)
                .ok_or(AmlError::InvalidName(offset))?;
            scope.0[..keep].to_vec()
        };
        segments.extend_from_slice(&name.segments);
        Ok(AmlPath(segments))
    }

    /// Resolves a name to an existing object: a single bare segment is searched for in the
    /// scope and then in each enclosing scope (ACPI 6.4 §5.3, "Namespace search rules").
    fn resolve(&self, scope: &AmlPath, name: &NameString, offset: usize) -> Result<usize> {
        if !name.root && name.parents == 0 && name.segments.len() == 1 {
            let mut prefix = scope.0.len();
            loop {
                let mut segments = scope.0[..prefix].to_vec();
                segments.extend_from_slice(&name.segments);
                if let Some(&index) = self.index.get(&AmlPath(segments)) {
                    return Ok(index);
                }
                if prefix == 0 {
                    break;
                }
                prefix -= 1;
            }
        }
        let path = self.lexical_path(scope, name, offset)?;
        self.index
            .get(&path)
            .copied()
            .ok_or(AmlError::UndefinedName(path))
    }

    // ----- loading -----

    fn load_term_list(&mut self, block: Cursor, scope: &AmlPath, frame: &mut Frame, depth: usize) {
        if depth > MAXIMUM_DEPTH {
            self.record(AmlError::DepthLimit);
            return;
        }
        let mut cursor = block;
        while cursor.position < cursor.end {
            if let Err(error) = self.load_term(&mut cursor, scope, frame, depth) {
                self.record(error);
                return;
            }
        }
    }

    /// Loads one term of a table's (or a scope's) term list.
    fn load_term(
        &mut self,
        cursor: &mut Cursor,
        scope: &AmlPath,
        frame: &mut Frame,
        depth: usize,
    ) -> Result<()> {
        self.step()?;
        let start = cursor.position;
        let opcode = self.byte(cursor)?;
        match opcode {
            // ScopeOp
            0x10 => {
                let end = self.package_end(cursor)?;
                let name = self.name_string(cursor)?;
                let path = match self.resolve(scope, &name, start) {
                    Ok(index) => self.objects[index].0.clone(),
                    Err(_) => self.lexical_path(scope, &name, start)?,
                };
                self.load_block(cursor, end, &path, depth);
            }
            // NameOp
            0x08 => {
                let name = self.name_string(cursor)?;
                let path = self.lexical_path(scope, &name, start)?;
                let object = self.data_object(cursor, frame, depth)?;
                self.insert(path, object)?;
            }
            // MethodOp
            0x14 => {
                let end = self.package_end(cursor)?;
                let name = self.name_string(cursor)?;
                let flags = self.byte(cursor)?;
                let path = self.lexical_path(scope, &name, start)?;
                self.insert(
                    path,
                    Object::Method {
                        table: cursor.table,
                        start: cursor.position,
                        end,
                        argument_count: flags & 0x07,
                    },
                )?;
                cursor.position = end;
            }
            // CreateBitField, CreateByteField, CreateWordField, CreateDWordField, CreateQWordField
            0x8D | 0x8C | 0x8B | 0x8A | 0x8F => {
                self.create_buffer_field(cursor, opcode, scope, frame, depth)?;
            }
            // IfOp
            0xA0 => self.load_if(cursor, scope, frame, depth)?,
            // ExternalOp: NameString ObjectType ArgumentCount
            0x15 => {
                self.name_string(cursor)?;
                self.byte(cursor)?;
                self.byte(cursor)?;
            }
            // AliasOp: two names; the alias is not created
            0x06 => {
                self.name_string(cursor)?;
                self.name_string(cursor)?;
            }
            0x5B => self.load_extended_term(cursor, scope, frame, depth)?,
            _ => {
                // Module-level code other than the above: run it as a statement.
                cursor.position = start;
                self.statement(cursor, frame, depth)?;
            }
        }
        Ok(())
    }

    fn load_extended_term(
        &mut self,
        cursor: &mut Cursor,
        scope: &AmlPath,
        frame: &mut Frame,
        depth: usize,
    ) -> Result<()> {
        let start = cursor.position - 1;
        let opcode = self.byte(cursor)?;
        match opcode {
            // DeviceOp, ProcessorOp, PowerResOp, ThermalZoneOp
            0x82..=0x85 => {
                let end = self.package_end(cursor)?;
                let name = self.name_string(cursor)?;
                let skip = match opcode {
                    0x83 => 6, // ProcID, PblkAddr (4), PblkLen
                    0x84 => 3, // SystemLevel, ResourceOrder (2)
                    _ => 0,
                };
                for _ in 0..skip {
                    self.byte(cursor)?;
                }
                let path = self.lexical_path(scope, &name, start)?;
                self.insert(path.clone(), Object::Device)?;
                self.load_block(cursor, end, &path, depth);
            }
            // OpRegionOp: NameString RegionSpace RegionOffset RegionLen
            0x80 => {
                let name = self.name_string(cursor)?;
                let space = self.byte(cursor)?;
                let address = self.integer(cursor, frame, depth + 1)?;
                let length = self.integer(cursor, frame, depth + 1)?;
                let path = self.lexical_path(scope, &name, start)?;
                self.insert(
                    path,
                    Object::Region {
                        space,
                        address,
                        length,
                    },
                )?;
            }
            // FieldOp
            0x81 => {
                let end = self.package_end(cursor)?;
                let mut list = Cursor { end, ..*cursor };
                cursor.position = end;
                self.load_field_list(&mut list, scope, start)?;
            }
            // IndexFieldOp, BankFieldOp: their units are not needed; skip the block.
            0x86 | 0x87 => cursor.position = self.package_end(cursor)?,
            // MutexOp: NameString SyncFlags
            0x01 => {
                let name = self.name_string(cursor)?;
                self.byte(cursor)?;
                let path = self.lexical_path(scope, &name, start)?;
                self.insert(path, Object::Opaque)?;
            }
            // EventOp
            0x02 => {
                let name = self.name_string(cursor)?;
                let path = self.lexical_path(scope, &name, start)?;
                self.insert(path, Object::Opaque)?;
            }
            // CreateFieldOp
            0x13 => self.create_buffer_field(cursor, 0x13, scope, frame, depth)?,
            _ => {
                return Err(AmlError::UnsupportedOpcode {
                    opcode: 0x5B00 | u16::from(opcode),
                    offset: start,
                });
            }
        }
        Ok(())
    }

    /// Loads the term list from the cursor to `end` in `scope` and moves past it. Errors inside
    /// were recorded; the block is skipped whole, so loading continues after it.
    fn load_block(&mut self, cursor: &mut Cursor, end: usize, scope: &AmlPath, depth: usize) {
        let block = Cursor {
            table: cursor.table,
            position: cursor.position,
            end,
        };
        let mut inner = self.module_frame(cursor.table, scope.clone());
        self.load_term_list(block, scope, &mut inner, depth + 1);
        cursor.position = end;
    }

    /// Module-level `If` (and its `Else`): evaluates the predicate as ACPICA does at load time
    /// and loads the chosen branch.
    fn load_if(
        &mut self,
        cursor: &mut Cursor,
        scope: &AmlPath,
        frame: &mut Frame,
        depth: usize,
    ) -> Result<()> {
        let end = self.package_end(cursor)?;
        let mut predicate_cursor = Cursor { end, ..*cursor };
        let predicate = self.integer(&mut predicate_cursor, frame, depth + 1);
        cursor.position = end;
        let else_end = if self.peek(cursor) == Some(0xA1) {
            cursor.position += 1;
            Some(self.package_end(cursor)?)
        } else {
            None
        };
        let else_start = cursor.position;
        match predicate {
            Ok(value) if value != 0 => {
                let mut body = Cursor {
                    end,
                    ..predicate_cursor
                };
                self.load_block(&mut body, end, scope, depth);
            }
            Ok(_) => {
                if let Some(else_end) = else_end {
                    let mut body = Cursor {
                        position: else_start,
                        end: else_end,
                        ..*cursor
                    };
                    self.load_block(&mut body, else_end, scope, depth);
                }
            }
            Err(error) => self.record(error),
        }
        cursor.position = else_end.unwrap_or(else_start);
        Ok(())
    }

    /// A `Field` list: named units get consecutive bit offsets in the region.
    fn load_field_list(
        &mut self,
        cursor: &mut Cursor,
        scope: &AmlPath,
        start: usize,
    ) -> Result<()> {
        let end = cursor.end;
        let region_name = self.name_string(cursor)?;
        let region = self.resolve(scope, &region_name, start)?;
        if !matches!(self.objects[region].1, Object::Region { .. }) {
            return Err(AmlError::TypeMismatch(start));
        }
        self.byte(cursor)?; // FieldFlags: access type, lock and update rules
        let mut bit_offset: u64 = 0;
        while let Some(lead) = self.peek(cursor) {
            self.step()?;
            match lead {
                // ReservedField: 0x00 PkgLength
                0x00 => {
                    cursor.position += 1;
                    let bits = self.package_length(cursor)?;
                    bit_offset = bit_offset
                        .checked_add(bits as u64)
                        .ok_or(AmlError::SizeLimit)?;
                }
                // AccessField: 0x01 AccessType AccessAttrib
                0x01 => cursor.position = cursor.position.saturating_add(3).min(end),
                // ExtendedAccessField: 0x03 AccessType ExtendedAccessAttrib AccessLength
                0x03 => cursor.position = cursor.position.saturating_add(4).min(end),
                // ConnectField and anything else
                0x02 => {
                    return Err(AmlError::UnsupportedOpcode {
                        opcode: 0x02,
                        offset: cursor.position,
                    });
                }
                _ => {
                    let segment = self.name_segment(cursor)?;
                    let bits = self.package_length(cursor)? as u64;
                    self.insert(
                        scope.child(segment),
                        Object::FieldUnit {
                            region,
                            bit_offset,
                            bit_length: bits,
                        },
                    )?;
                    bit_offset = bit_offset.checked_add(bits).ok_or(AmlError::SizeLimit)?;
                }
            }
        }
        Ok(())
    }

    /// `CreateXxxField (SourceBuffer, Index, Name)` and `CreateField (SourceBuffer, BitIndex,
    /// NumBits, Name)`. The source must be a named buffer: the field aliases it.
    fn create_buffer_field(
        &mut self,
        cursor: &mut Cursor,
        opcode: u8,
        scope: &AmlPath,
        frame: &mut Frame,
        depth: usize,
    ) -> Result<()> {
        let start = cursor.position;
        let source = self.name_string(cursor)?;
        let buffer = self.resolve(scope, &source, start)?;
        if !matches!(self.objects[buffer].1, Object::Buffer(_)) {
            return Err(AmlError::TypeMismatch(start));
        }
        let index = self.integer(cursor, frame, depth + 1)?;
        let (bit_offset, bit_length) = match opcode {
            0x8D => (Some(index), 1),
            0x8C => (index.checked_mul(8), 8),
            0x8B => (index.checked_mul(8), 16),
            0x8A => (index.checked_mul(8), 32),
            0x8F => (index.checked_mul(8), 64),
            _ => (Some(index), self.integer(cursor, frame, depth + 1)?),
        };
        let bit_offset = bit_offset.ok_or(AmlError::SizeLimit)?;
        let name = self.name_string(cursor)?;
        let path = self.lexical_path(scope, &name, start)?;
        self.insert(
            path,
            Object::BufferField {
                buffer,
                bit_offset,
                bit_length,
            },
        )?;
        Ok(())
    }

    /// A `Name`'s DataRefObject.
    fn data_object(
        &mut self,
        cursor: &mut Cursor,
        frame: &mut Frame,
        depth: usize,
    ) -> Result<Object> {
        match self.peek(cursor) {
            // PackageOp, VarPackageOp: kept by name only
            Some(0x12 | 0x13) => {
                cursor.position += 1;
                cursor.position = self.package_end(cursor)?;
                Ok(Object::Opaque)
            }
            _ => Ok(match self.expression(cursor, frame, depth + 1)? {
                Value::Integer(value) => Object::Integer(value),
                Value::String(bytes) => Object::String(bytes),
                Value::Buffer(bytes) => Object::Buffer(bytes),
            }),
        }
    }

    // ----- evaluation -----

    /// Runs a method body (or any term list) until it ends or returns.
    fn term_list(&mut self, block: Cursor, frame: &mut Frame, depth: usize) -> Result<Flow> {
        if depth > MAXIMUM_DEPTH {
            return Err(AmlError::DepthLimit);
        }
        let mut cursor = block;
        while cursor.position < cursor.end {
            match self.statement(&mut cursor, frame, depth)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn statement(&mut self, cursor: &mut Cursor, frame: &mut Frame, depth: usize) -> Result<Flow> {
        let start = cursor.position;
        let Some(opcode) = self.peek(cursor) else {
            return Err(AmlError::Truncated(start));
        };
        match opcode {
            // IfOp
            0xA0 => {
                self.step()?;
                cursor.position += 1;
                let end = self.package_end(cursor)?;
                let mut body = Cursor { end, ..*cursor };
                let predicate = self.integer(&mut body, frame, depth + 1)?;
                cursor.position = end;
                let else_block = if self.peek(cursor) == Some(0xA1) {
                    cursor.position += 1;
                    let else_end = self.package_end(cursor)?;
                    let block = Cursor {
                        end: else_end,
                        ..*cursor
                    };
                    cursor.position = else_end;
                    Some(block)
                } else {
                    None
                };
                if predicate != 0 {
                    self.term_list(body, frame, depth + 1)
                } else if let Some(block) = else_block {
                    self.term_list(block, frame, depth + 1)
                } else {
                    Ok(Flow::Normal)
                }
            }
            // WhileOp
            0xA2 => {
                cursor.position += 1;
                let end = self.package_end(cursor)?;
                let predicate_start = *cursor;
                cursor.position = end;
                loop {
                    self.step()?;
                    let mut body = Cursor {
                        end,
                        ..predicate_start
                    };
                    if self.integer(&mut body, frame, depth + 1)? == 0 {
                        return Ok(Flow::Normal);
                    }
                    match self.term_list(body, frame, depth + 1)? {
                        Flow::Return(value) => return Ok(Flow::Return(value)),
                        Flow::Break => return Ok(Flow::Normal),
                        Flow::Normal | Flow::Continue => {}
                    }
                }
            }
            // ReturnOp
            0xA4 => {
                self.step()?;
                cursor.position += 1;
                let value = self.expression(cursor, frame, depth + 1)?;
                Ok(Flow::Return(value))
            }
            // BreakOp
            0xA5 => {
                cursor.position += 1;
                Ok(Flow::Break)
            }
            // ContinueOp
            0x9F => {
                cursor.position += 1;
                Ok(Flow::Continue)
            }
            // NoopOp, BreakPointOp
            0xA3 | 0xCC => {
                cursor.position += 1;
                Ok(Flow::Normal)
            }
            _ => {
                self.expression(cursor, frame, depth + 1)?;
                Ok(Flow::Normal)
            }
        }
    }

    /// Evaluates a TermArg that must be (or convert to) an integer.
    fn integer(&mut self, cursor: &mut Cursor, frame: &mut Frame, depth: usize) -> Result<u64> {
        let start = cursor.position;
        let value = self.expression(cursor, frame, depth)?;
        to_integer(&value, frame.integer_mask).ok_or(AmlError::TypeMismatch(start))
    }

    /// Evaluates one TermArg.
    fn expression(
        &mut self,
        cursor: &mut Cursor,
        frame: &mut Frame,
        depth: usize,
    ) -> Result<Value> {
        if depth > MAXIMUM_DEPTH {
            return Err(AmlError::DepthLimit);
        }
        self.step()?;
        let start = cursor.position;
        let opcode = self.byte(cursor)?;
        let mask = frame.integer_mask;
        let value = match opcode {
            0x00 => Value::Integer(0),
            0x01 => Value::Integer(1),
            0xFF => Value::Integer(mask),
            0x0A => Value::Integer(self.little_endian(cursor, 1)?),
            0x0B => Value::Integer(self.little_endian(cursor, 2)?),
            0x0C => Value::Integer(self.little_endian(cursor, 4)?),
            0x0E => Value::Integer(self.little_endian(cursor, 8)? & mask),
            // StringPrefix: ASCII up to a NUL
            0x0D => {
                let mut bytes = Vec::new();
                loop {
                    match self.byte(cursor)? {
                        0 => break,
                        byte => bytes.push(byte),
                    }
                }
                self.charge(bytes.len())?;
                Value::String(bytes)
            }
            // BufferOp: PkgLength BufferSize ByteList
            0x11 => {
                let end = self.package_end(cursor)?;
                let mut inner = Cursor { end, ..*cursor };
                let size = self.integer(&mut inner, frame, depth + 1)?;
                cursor.position = end;
                let initializer = self
                    .bytes(cursor.table)
                    .get(inner.position..end)
                    .ok_or(AmlError::Truncated(inner.position))?;
                let length = size.max(initializer.len() as u64);
                if length > MAXIMUM_BUFFER_LENGTH {
                    return Err(AmlError::SizeLimit);
                }
                self.charge(length as usize)?;
                let mut bytes = vec![0u8; length as usize];
                bytes[..initializer.len()].copy_from_slice(initializer);
                Value::Buffer(bytes)
            }
            0x60..=0x67 => frame.locals[usize::from(opcode - 0x60)]
                .clone()
                .ok_or(AmlError::UninitializedLocal(start))?,
            0x68..=0x6E => frame
                .arguments
                .get(usize::from(opcode - 0x68))
                .cloned()
                .unwrap_or(Value::Integer(0)),
            // StoreOp: TermArg SuperName
            0x70 => {
                let value = self.expression(cursor, frame, depth + 1)?;
                let target = self.target(cursor, frame)?;
                self.store(target, value.clone(), frame)?;
                value
            }
            // Add, Subtract, Multiply, ShiftLeft, ShiftRight, And, Nand, Or, Nor, Xor, Mod:
            // Operand Operand Target
            0x72 | 0x74 | 0x77 | 0x79 | 0x7A | 0x7B | 0x7C | 0x7D | 0x7E | 0x7F | 0x85 => {
                let left = self.integer(cursor, frame, depth + 1)?;
                let right = self.integer(cursor, frame, depth + 1)?;
                let result = binary(opcode, left, right)? & mask;
                let target = self.target(cursor, frame)?;
                self.store(target, Value::Integer(result), frame)?;
                Value::Integer(result)
            }
            // NotOp: Operand Target
            0x80 => {
                let result = !self.integer(cursor, frame, depth + 1)? & mask;
                let target = self.target(cursor, frame)?;
                self.store(target, Value::Integer(result), frame)?;
                Value::Integer(result)
            }
            // IncrementOp, DecrementOp: SuperName
            0x75 | 0x76 => {
                let operand_start = cursor.position;
                let target = self.target(cursor, frame)?;
                let current = self.read_target(&target, frame, depth)?;
                let current =
                    to_integer(&current, mask).ok_or(AmlError::TypeMismatch(operand_start))?;
                let result = if opcode == 0x75 {
                    current.wrapping_add(1)
                } else {
                    current.wrapping_sub(1)
                } & mask;
                self.store(target, Value::Integer(result), frame)?;
                Value::Integer(result)
            }
            // LAnd, LOr, LEqual, LGreater, LLess
            0x90 | 0x91 | 0x93 | 0x94 | 0x95 => {
                let left = self.integer(cursor, frame, depth + 1)?;
                let right = self.integer(cursor, frame, depth + 1)?;
                let truth = match opcode {
                    0x90 => left != 0 && right != 0,
                    0x91 => left != 0 || right != 0,
                    0x93 => left == right,
                    0x94 => left > right,
                    _ => left < right,
                };
                Value::Integer(if truth { mask } else { 0 })
            }
            // LNot
            0x92 => {
                let operand = self.integer(cursor, frame, depth + 1)?;
                Value::Integer(if operand == 0 { mask } else { 0 })
            }
            b'\\' | b'^' | 0x2E | 0x2F | b'A'..=b'Z' | b'_' => {
                cursor.position = start;
                let name = self.name_string(cursor)?;
                let index = self.resolve(&frame.scope, &name, start)?;
                self.reference(index, cursor, frame, depth)?
            }
            _ => {
                let opcode = if opcode == 0x5B {
                    0x5B00 | u16::from(self.byte(cursor)?)
                } else {
                    u16::from(opcode)
                };
                return Err(AmlError::UnsupportedOpcode {
                    opcode,
                    offset: start,
                });
            }
        };
        Ok(value)
    }

    /// The value of a name met in an expression: a method is called with its arguments, which
    /// follow in the byte stream.
    fn reference(
        &mut self,
        index: usize,
        cursor: &mut Cursor,
        frame: &mut Frame,
        depth: usize,
    ) -> Result<Value> {
        let Some((_, Object::Method { argument_count, .. })) = self.objects.get(index) else {
            return self.read_object(index, depth);
        };
        let mut arguments = Vec::new();
        for _ in 0..*argument_count {
            arguments.push(self.expression(cursor, frame, depth + 1)?);
        }
        self.call(index, arguments, depth)
    }

    fn call(&mut self, index: usize, arguments: Vec<Value>, depth: usize) -> Result<Value> {
        if depth > MAXIMUM_DEPTH {
            return Err(AmlError::DepthLimit);
        }
        let Some((
            path,
            Object::Method {
                table, start, end, ..
            },
        )) = self.objects.get(index)
        else {
            return Err(AmlError::TypeMismatch(0));
        };
        let (path, table, start, end) = (path.clone(), *table, *start, *end);
        let mut frame = self.module_frame(table, path);
        frame.arguments = arguments;
        let block = Cursor {
            table,
            position: start,
            end,
        };
        match self.term_list(block, &mut frame, depth + 1)? {
            Flow::Return(value) => Ok(value),
            _ => Ok(Value::Integer(0)),
        }
    }

    fn read_object(&mut self, index: usize, depth: usize) -> Result<Value> {
        let Some((path, object)) = self.objects.get(index) else {
            return Err(AmlError::TypeMismatch(0));
        };
        match object {
            Object::Integer(value) => Ok(Value::Integer(*value)),
            Object::String(bytes) => {
                let value = Value::String(bytes.clone());
                self.charge(bytes.len())?;
                Ok(value)
            }
            Object::Buffer(bytes) => {
                let value = Value::Buffer(bytes.clone());
                self.charge(bytes.len())?;
                Ok(value)
            }
            Object::Method { .. } => self.call(index, Vec::new(), depth + 1),
            &Object::FieldUnit {
                region,
                bit_offset,
                bit_length,
            } => {
                let path = path.clone();
                self.read_field_unit(&path, region, bit_offset, bit_length)
            }
            &Object::BufferField {
                buffer,
                bit_offset,
                bit_length,
            } => {
                let invalid = || AmlError::InvalidField(path.clone());
                let Some((_, Object::Buffer(bytes))) = self.objects.get(buffer) else {
                    return Err(invalid());
                };
                read_bits(bytes, bit_offset, bit_length)
                    .map(Value::Integer)
                    .ok_or_else(invalid)
            }
            Object::Device | Object::Opaque | Object::Region { .. } => {
                Err(AmlError::NotAValue(path.clone()))
            }
        }
    }

    fn read_field_unit(
        &mut self,
        path: &AmlPath,
        region: usize,
        bit_offset: u64,
        bit_length: u64,
    ) -> Result<Value> {
        let invalid = || AmlError::InvalidField(path.clone());
        let Some(&(
            _,
            Object::Region {
                space,
                address,
                length,
            },
        )) = self.objects.get(region)
        else {
            return Err(invalid());
        };
        let field_end = bit_offset.checked_add(bit_length).ok_or_else(invalid)?;
        let region_bits = length.checked_mul(8).ok_or_else(invalid)?;
        if space != SYSTEM_MEMORY || bit_length > MAXIMUM_FIELD_BITS || field_end > region_bits {
            return Err(invalid());
        }
        let first_byte = bit_offset / 8;
        let byte_count = (field_end.div_ceil(8) - first_byte) as usize;
        let mut bytes = [0u8; 9];
        let bytes = bytes.get_mut(..byte_count).ok_or_else(invalid)?;
        let physical = address.checked_add(first_byte).ok_or_else(invalid)?;
        self.memory.read(physical, bytes)?;
        read_bits(bytes, bit_offset % 8, bit_length)
            .map(Value::Integer)
            .ok_or_else(invalid)
    }

    fn target(&mut self, cursor: &mut Cursor, frame: &Frame) -> Result<Target> {
        let start = cursor.position;
        let opcode = self.peek(cursor).ok_or(AmlError::Truncated(start))?;
        let target = match opcode {
            0x00 => {
                cursor.position += 1;
                Target::Discard
            }
            0x60..=0x67 => {
                cursor.position += 1;
                Target::Local(usize::from(opcode - 0x60))
            }
            0x68..=0x6E => {
                cursor.position += 1;
                Target::Argument(usize::from(opcode - 0x68))
            }
            // DebugOp
            0x5B if self.bytes(cursor.table).get(start + 1) == Some(&0x31) => {
                cursor.position += 2;
                Target::Discard
            }
            b'\\' | b'^' | 0x2E | 0x2F | b'A'..=b'Z' | b'_' => {
                let name = self.name_string(cursor)?;
                Target::Named(self.resolve(&frame.scope, &name, start)?)
            }
            _ => {
                return Err(AmlError::UnsupportedOpcode {
                    opcode: u16::from(opcode),
                    offset: start,
                });
            }
        };
        Ok(target)
    }

    fn read_target(&mut self, target: &Target, frame: &Frame, depth: usize) -> Result<Value> {
        match *target {
            Target::Discard => Ok(Value::Integer(0)),
            Target::Local(index) => frame.locals[index]
                .clone()
                .ok_or(AmlError::UninitializedLocal(0)),
            Target::Argument(index) => Ok(frame
                .arguments
                .get(index)
                .cloned()
                .unwrap_or(Value::Integer(0))),
            Target::Named(index) => self.read_object(index, depth),
        }
    }

    fn store(&mut self, target: Target, value: Value, frame: &mut Frame) -> Result<()> {
        let mask = frame.integer_mask;
        match target {
            Target::Discard => {}
            Target::Local(index) => frame.locals[index] = Some(value),
            Target::Argument(index) => {
                if let Some(slot) = frame.arguments.get_mut(index) {
                    *slot = value;
                }
            }
            Target::Named(index) => {
                let Some((path, object)) = self.objects.get(index) else {
                    return Err(AmlError::TypeMismatch(0));
                };
                let path = path.clone();
                match *object {
                    Object::Integer(_) => {
                        let value = to_integer(&value, mask).ok_or(AmlError::TypeMismatch(0))?;
                        self.objects[index].1 = Object::Integer(value);
                    }
                    Object::BufferField {
                        buffer,
                        bit_offset,
                        bit_length,
                    } => {
                        let value =
                            to_integer(&value, u64::MAX).ok_or(AmlError::TypeMismatch(0))?;
                        let Some((_, Object::Buffer(bytes))) = self.objects.get_mut(buffer) else {
                            return Err(AmlError::InvalidField(path));
                        };
                        write_bits(bytes, bit_offset, bit_length, value)
                            .ok_or(AmlError::InvalidField(path))?;
                    }
                    Object::FieldUnit { .. } => return Err(AmlError::WriteToRegion(path)),
                    _ => return Err(AmlError::TypeMismatch(0)),
                }
            }
        }
        Ok(())
    }
}

/// Implicit conversion to an integer: buffers take their first eight bytes, little-endian;
/// strings are not converted here.
fn to_integer(value: &Value, mask: u64) -> Option<u64> {
    match value {
        Value::Integer(value) => Some(value & mask),
        Value::Buffer(bytes) => {
            let mut raw = [0u8; 8];
            let count = bytes.len().min(8);
            raw[..count].copy_from_slice(&bytes[..count]);
            Some(u64::from_le_bytes(raw) & mask)
        }
        Value::String(_) => None,
    }
}

fn binary(opcode: u8, left: u64, right: u64) -> Result<u64> {
    Ok(match opcode {
        0x72 => left.wrapping_add(right),
        0x74 => left.wrapping_sub(right),
        0x77 => left.wrapping_mul(right),
        0x79 => left
            .checked_shl(u32::try_from(right).unwrap_or(u32::MAX))
            .unwrap_or(0),
        0x7A => left
            .checked_shr(u32::try_from(right).unwrap_or(u32::MAX))
            .unwrap_or(0),
        0x7B => left & right,
        0x7C => !(left & right),
        0x7D => left | right,
        0x7E => !(left | right),
        0x7F => left ^ right,
        _ => left.checked_rem(right).ok_or(AmlError::DivideByZero)?,
    })
}

/// Bits `[bit_offset, bit_offset + bit_length)` of `bytes` (little-endian bit order), at most 64.
fn read_bits(bytes: &[u8], bit_offset: u64, bit_length: u64) -> Option<u64> {
    if bit_length > MAXIMUM_FIELD_BITS
        || bit_offset.checked_add(bit_length)? > (bytes.len() as u64) * 8
    {
        return None;
    }
    let mut value = 0u64;
    for bit in 0..bit_length {
        let position = bit_offset + bit;
        let byte = bytes[(position / 8) as usize];
        value |= u64::from((byte >> (position % 8)) & 1) << bit;
    }
    Some(value)
}

/// Writes the low `bit_length` bits of `value` at `bit_offset` (at most 64 bits).
fn write_bits(bytes: &mut [u8], bit_offset: u64, bit_length: u64, value: u64) -> Option<()> {
    if bit_length > MAXIMUM_FIELD_BITS
        || bit_offset.checked_add(bit_length)? > (bytes.len() as u64) * 8
    {
        return None;
    }
    for bit in 0..bit_length {
        let position = bit_offset + bit;
        let byte = &mut bytes[(position / 8) as usize];
        let mask = 1u8 << (position % 8);
        if (value >> bit) & 1 == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
    Some(())
}

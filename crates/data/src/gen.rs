//! `generate`: a seeded, realistic demo zone for the seed pack (policies/ningbo) — the files a
//! zone's departments would export, and the mapping that ingests them.
//!
//! Each firm is generated from its own ChaCha stream (seed, firm index) and written straight to
//! the files, so memory does not grow with the number of firms and the output depends only on
//! the seed. Amounts are integer 分 throughout; floats only drive the random draws.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use huiqi_ir::date::days_in_month;
use huiqi_ir::Date;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dates::{from_days, to_days, validity_end};
use crate::error::Error;
use crate::mapping::Unit;

mod samples;
mod zones;
pub use samples::SampleFirms;
pub use zones::generate_seed_zones;

/// What `generate` wrote: file name and data rows.
#[derive(Clone, Debug, Default)]
pub struct GenStats {
    pub files: Vec<(String, u64)>,
}

const INDUSTRIES: [&str; 7] = [
    "制造业",
    "信息技术服务业",
    "科学研究和技术服务业",
    "批发零售业",
    "房地产业",
    "金融业",
    "其他",
];
/// Shares of firms by industry (‰), in the order above.
const INDUSTRY_SHARE: [u32; 7] = [430, 150, 90, 170, 40, 30, 90];
const MANUFACTURING: usize = 0;
const WHOLESALE: usize = 3;

const STAGES: [&str; 4] = ["创新层挂牌", "辅导期", "材料受理", "上市"];
const TITLES: [&str; 4] = [
    "国家级单项冠军",
    "专精特新小巨人",
    "省级隐形冠军",
    "省级专精特新",
];

const BRANDS: &str = "华启瑞丰达鑫恒盛德隆兴泰宏博源汇新天科海甬明东越港江峰晨光远诚信安康宇联创智优嘉和众邦凯迪奥顺利通力金银豪佳美正中天舜慈姚镇北仑象奉";
const WORDS: [&[&str]; 7] = [
    &[
        "精密机械",
        "电子科技",
        "新材料科技",
        "智能装备",
        "汽车零部件",
        "模具",
        "光电科技",
        "电气",
        "医疗器械",
        "化工",
    ],
    &["信息技术", "软件", "网络科技", "数据科技", "智能科技"],
    &["检测技术", "生物科技", "工程技术", "技术服务", "环保科技"],
    &["贸易", "商贸", "进出口", "供应链管理", "电子商务"],
    &["置业", "房地产开发", "物业服务"],
    &["融资租赁", "小额贷款", "投资管理", "商业保理"],
    &["文化传媒", "餐饮管理", "物流", "人力资源", "企业管理咨询"],
];

const WAN: f64 = 1_000_000.0; // 分 per 万元
const YI: f64 = 10_000_000_000.0; // 分 per 亿元

/// Rows per sheet in XLSX.
const XLSX_MAX_ROWS: u32 = 1_048_576;

/// One output file: CSV always, the same rows as an XLSX sheet when asked.
struct Sheet {
    name: String,
    csv: csv::Writer<BufWriter<File>>,
    xlsx: Option<rust_xlsxwriter::Worksheet>,
    row: u32,
    rows: u64,
    buf: String,
}

/// A field of a row.
enum F<'a> {
    T(&'a str),
    /// 分, written in `unit` with `dp` decimals (`grouped`: with thousands separators in CSV).
    Money(i64, Unit, u32, bool),
    Empty,
}

fn fmt_money(out: &mut String, fen: i64, unit: Unit, dp: u32, grouped: bool) {
    out.clear();
    let per = unit.fen() as i64;
    let natural = match unit {
        Unit::Yuan => 2,
        Unit::Wan => 6,
        Unit::Yi => 10,
    };
    if fen < 0 {
        out.push('-');
    }
    let a = fen.unsigned_abs();
    let int = (a / per as u64).to_string();
    if grouped {
        for (i, ch) in int.chars().enumerate() {
            if i > 0 && (int.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
    } else {
        out.push_str(&int);
    }
    if dp > 0 {
        let frac = format!("{:0w$}", a % per as u64, w = natural as usize);
        out.push('.');
        out.push_str(&frac[..dp as usize]);
    }
}

impl Sheet {
    fn create(dir: &Path, name: &str, header: &[&str], xlsx: bool) -> Result<Sheet, Error> {
        let path = dir.join(format!("{name}.csv"));
        let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut csv = csv::WriterBuilder::new().from_writer(BufWriter::with_capacity(1 << 20, f));
        csv.write_record(header).map_err(Error::lib)?;
        let xlsx = if xlsx {
            let mut ws = rust_xlsxwriter::Worksheet::new();
            ws.set_name("Sheet1").map_err(Error::lib)?;
            for (c, h) in header.iter().enumerate() {
                ws.write_string(0, c as u16, *h).map_err(Error::lib)?;
            }
            Some(ws)
        } else {
            None
        };
        Ok(Sheet {
            name: name.to_string(),
            csv,
            xlsx,
            row: 0,
            rows: 0,
            buf: String::new(),
        })
    }

    fn row(&mut self, fields: &[F]) -> Result<(), Error> {
        self.row += 1;
        self.rows += 1;
        for (c, f) in fields.iter().enumerate() {
            match f {
                F::T(s) => {
                    self.csv.write_field(s).map_err(Error::lib)?;
                    if let Some(ws) = &mut self.xlsx {
                        ws.write_string(self.row, c as u16, *s)
                            .map_err(Error::lib)?;
                    }
                }
                F::Money(fen, unit, dp, grouped) => {
                    fmt_money(&mut self.buf, *fen, *unit, *dp, *grouped);
                    self.csv.write_field(&self.buf).map_err(Error::lib)?;
                    if let Some(ws) = &mut self.xlsx {
                        // The shortest decimal of this f64 is the text just formatted (≤ 15
                        // significant digits), so a reader gets the exact amount back.
                        fmt_money(&mut self.buf, *fen, *unit, *dp, false);
                        let x: f64 = self.buf.parse().map_err(Error::lib)?;
                        ws.write_number(self.row, c as u16, x).map_err(Error::lib)?;
                    }
                }
                F::Empty => self.csv.write_field("").map_err(Error::lib)?,
            }
        }
        self.csv.write_record(None::<&[u8]>).map_err(Error::lib)?;
        if self.xlsx.is_some() && self.row >= XLSX_MAX_ROWS {
            return Err(Error::SheetFull {
                sheet: self.name.clone(),
                max: XLSX_MAX_ROWS - 1,
            });
        }
        Ok(())
    }

    fn finish(self, dir: &Path) -> Result<(String, u64), Error> {
        let mut w = self.csv.into_inner().map_err(Error::lib)?;
        w.flush().map_err(Error::lib)?;
        if let Some(ws) = self.xlsx {
            let mut wb = rust_xlsxwriter::Workbook::new();
            // A fixed creation time keeps the file identical for the same seed.
            let t = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 1, 1).map_err(Error::lib)?;
            wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&t));
            wb.push_worksheet(ws);
            let p = dir.join(format!("{}.xlsx", self.name));
            wb.save(&p).map_err(|e| Error::io(&p, e))?;
        }
        Ok((self.name, self.rows))
    }
}

/// A standard normal draw (Box–Muller).
fn normal(r: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = r.random::<f64>().max(1e-300);
    let u2: f64 = r.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn pick<'a>(r: &mut ChaCha8Rng, xs: &[&'a str]) -> &'a str {
    xs[r.random_range(0..xs.len())]
}

fn random_date(r: &mut ChaCha8Rng, y: i32, months: std::ops::RangeInclusive<u32>) -> Date {
    let m = r.random_range(months);
    let d = r.random_range(1..=days_in_month(y, m));
    Date { y, m, d }
}

/// Rounds 分 to a granularity (a multiple of `g` 分), at least `g`.
fn round_to(fen: f64, g: i64) -> i64 {
    ((fen / g as f64).round() as i64).max(1) * g
}

/// A unique, valid 统一社会信用代码 for firm `i`: 91 (enterprise) + region 330201 + an
/// organisation code (MA + 6 symbols from a bijection of `i`, GB 11714 check digit) + check character.
pub fn credit_code(i: u64, seed: u64) -> String {
    credit_code_in(i, seed, "330201")
}

/// [`credit_code`] registered in `region` (six digits: 510100 成都, 440101 广州 …).
fn credit_code_in(i: u64, seed: u64, region: &str) -> String {
    const ALPHA: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const SPACE: u64 = 887_503_681; // 31^6
    let mut x = (i % SPACE * 387_420_489 + seed % SPACE) % SPACE;
    let mut body = [b'0'; 6];
    for c in body.iter_mut().rev() {
        *c = ALPHA[(x % 31) as usize];
        x /= 31;
    }
    let mut org = b"MA".to_vec();
    org.extend_from_slice(&body);
    // GB 11714: letters count as 10..35.
    let w = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = org
        .iter()
        .zip(w)
        .map(|(&c, w)| {
            w * if c.is_ascii_digit() {
                (c - b'0') as u32
            } else {
                (c - b'A') as u32 + 10
            }
        })
        .sum();
    let check = match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from(b'0' + n as u8),
    };
    let mut s = format!("91{region}");
    s.extend(org.iter().map(|&c| char::from(c)));
    s.push(check);
    s.push(uscc_check(&s));
    s
}

/// The GB 32100 check character of a 17-character code built from the code's alphabet.
#[allow(clippy::expect_used)]
fn uscc_check(first17: &str) -> char {
    // PANIC SAFETY: `credit_code` builds every character from GB 32100's alphabet (digits,
    // `ALPHA`, `MA`, a GB 11714 check digit or X), so the check character exists.
    huiqi_ir::uscc::check_char(first17).expect("alphabet")
}

fn firm_rng(seed: u64, i: u64) -> ChaCha8Rng {
    // SplitMix64 of (seed, i): independent streams per firm.
    let mut z = seed
        ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x6A09_E667_F3BC_C909);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

/// The generated files, one per department export.
struct Out {
    firms: Sheet,
    tax: Sheet,
    stats: Sheet,
    loans: Sheet,
    listing: Sheet,
    titles: Sheet,
    hightech: Sheet,
    credit: Sheet,
    /// 市场监管_园区归属: every generated firm is in 宁波高新区 from its founding date.
    zones: Sheet,
    /// 兑现记录: the award history of sample firms (written only when sample firms are given).
    awards: Option<Sheet>,
}

/// One of the generated files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tbl {
    Firms,
    Tax,
    Stats,
    Loans,
    Listing,
    Titles,
    Hightech,
    Credit,
    Zones,
    Awards,
}

/// The zone register's file name and header (市场监管: 迁入 and 迁出 dates of each firm's zone).
const ZONES_FILE: &str = "市场监管_园区归属";
const ZONES_HEADER: [&str; 4] = ["统一社会信用代码", "园区", "迁入日期", "迁出日期"];
/// The zone every firm of `generate` belongs to.
const HOME_ZONE: &str = "宁波高新区";

/// The loan export's file name and header (金融办: each new bank loan, its principal and the
/// interest paid on it that year — the fields of the event fact 新增贷款).
const LOANS_FILE: &str = "金融办_新增贷款";
const LOANS_HEADER: [&str; 4] = [
    "统一社会信用代码",
    "放款日期",
    "贷款本金（元）",
    "实际支付利息（元）",
];

/// The award history file's name and header (the ledger's export of earlier awards).
const AWARDS_FILE: &str = "兑现记录";
const AWARDS_HEADER: [&str; 5] = ["统一社会信用代码", "条款", "年度", "分项", "金额（元）"];

impl Out {
    /// Creates every file with its header row; the award history file when `awards`.
    fn create(d: &Path, xlsx: bool, awards: bool) -> Result<Out, Error> {
        Ok(Out {
            firms: Sheet::create(
                d,
                "企业名录",
                &[
                    "统一社会信用代码",
                    "企业名称",
                    "国民经济行业门类",
                    "成立日期",
                ],
                xlsx,
            )?,
            tax: Sheet::create(
                d,
                "税务_年度申报",
                &[
                    "统一社会信用代码",
                    "企业名称",
                    "年度",
                    "营业收入（万元）",
                    "研发费用（万元）",
                ],
                xlsx,
            )?,
            stats: Sheet::create(
                d,
                "统计_年度",
                &[
                    "统一社会信用代码",
                    "统计年度",
                    "规模以上工业企业",
                    "限额以上批零商品销售额（万元）",
                ],
                xlsx,
            )?,
            loans: Sheet::create(d, LOANS_FILE, &LOANS_HEADER, xlsx)?,
            listing: Sheet::create(
                d,
                "金融办_上市进程",
                &["统一社会信用代码", "企业名称", "上市阶段", "日期"],
                xlsx,
            )?,
            titles: Sheet::create(
                d,
                "经信_荣誉称号",
                &["统一社会信用代码", "称号", "认定日期", "有效期至"],
                xlsx,
            )?,
            hightech: Sheet::create(
                d,
                "科技_高新技术企业",
                &["统一社会信用代码", "证书编号", "发证日期", "有效期至"],
                xlsx,
            )?,
            credit: Sheet::create(
                d,
                "信用_严重失信名单",
                &["统一社会信用代码", "列入日期", "移出日期"],
                xlsx,
            )?,
            zones: Sheet::create(d, ZONES_FILE, &ZONES_HEADER, xlsx)?,
            awards: if awards {
                Some(Sheet::create(d, AWARDS_FILE, &AWARDS_HEADER, xlsx)?)
            } else {
                None
            },
        })
    }

    /// The sheet of `t` (None: the award history, when it is not written).
    fn sheet(&mut self, t: Tbl) -> Option<&mut Sheet> {
        Some(match t {
            Tbl::Firms => &mut self.firms,
            Tbl::Tax => &mut self.tax,
            Tbl::Stats => &mut self.stats,
            Tbl::Loans => &mut self.loans,
            Tbl::Listing => &mut self.listing,
            Tbl::Titles => &mut self.titles,
            Tbl::Hightech => &mut self.hightech,
            Tbl::Credit => &mut self.credit,
            Tbl::Zones => &mut self.zones,
            Tbl::Awards => return self.awards.as_mut(),
        })
    }

    /// Closes every file (writing the XLSX copies): file name and data rows, in creation order.
    fn finish(self, d: &Path) -> Result<GenStats, Error> {
        let mut stats = GenStats::default();
        for s in [
            self.firms,
            self.tax,
            self.stats,
            self.loans,
            self.listing,
            self.titles,
            self.hightech,
            self.credit,
            self.zones,
        ]
        .into_iter()
        .chain(self.awards)
        {
            stats.files.push(s.finish(d)?);
        }
        Ok(stats)
    }
}

/// Writes `firms` firms' data for `first_year..=last_year` into `out_dir`: CSV files with
/// Chinese headers (and XLSX copies when `xlsx`), `mapping.toml` (and `mapping-xlsx.toml`).
pub fn generate(
    out_dir: &Path,
    firms: usize,
    first_year: i32,
    last_year: i32,
    seed: u64,
    xlsx: bool,
) -> Result<GenStats, Error> {
    generate_with(out_dir, firms, first_year, last_year, seed, xlsx, None)
}

/// [`generate`], then the `samples` firms (read from firm files) after the generated ones,
/// through the same files and in the same units and spellings, with their award history in
/// `兑现记录.csv` (mapped as `[[awards]]`). The generated firms' rows are the same bytes as
/// without samples. A sample fact the files have no column for, or a value they cannot hold
/// exactly, is an error naming the firm and the fact; nothing is written then.
pub fn generate_with(
    out_dir: &Path,
    firms: usize,
    first_year: i32,
    last_year: i32,
    seed: u64,
    xlsx: bool,
    samples: Option<SampleFirms<'_>>,
) -> Result<GenStats, Error> {
    if first_year > last_year || !(1950..=2100).contains(&first_year) || last_year > 2100 {
        return Err(Error::YearRange {
            first: first_year,
            last: last_year,
        });
    }
    if firms == 0 {
        return Err(Error::NoFirms);
    }
    // Sample firms are checked in full before anything is written.
    let sample_rows = match samples {
        Some(s) => Some(samples::rows(s, firms as u64, seed, xlsx)?),
        None => None,
    };
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let d = out_dir;
    let mut o = Out::create(d, xlsx, samples.is_some())?;
    for i in 0..firms as u64 {
        gen_firm(&mut o, i, seed, first_year, last_year)?;
    }
    if let Some(rows) = &sample_rows {
        rows.write(&mut o)?;
    }
    let stats = o.finish(d)?;
    let mut head = format!(
        "# 由 huiqi gen 生成：模拟宁波高新区 {firms} 家企业 {first_year}–{last_year} 年的数据（种子 {seed}）。\n\
         # Generated by huiqi gen: {firms} firms, {first_year}–{last_year}, seed {seed}.\n"
    );
    if let Some(s) = samples {
        let n = s.firms.len();
        head.push_str(&format!(
            "# 另含 {n} 家样例企业（取自企业文件，写在模拟企业之后）及其历史兑现记录。\n\
             # Plus {n} sample firms (from firm files, after the generated ones) and their award history.\n"
        ));
    }
    head.push_str(
        "# huiqi ingest --policy policies/ningbo --mapping <this file> --snapshots var/snapshots\n",
    );
    let awards = samples.is_some();
    let write_mapping = |name: &str, ext: &str| {
        let p = d.join(name);
        std::fs::write(&p, format!("{head}{}", mapping_text(ext, awards)))
            .map_err(|e| Error::io(&p, e))
    };
    write_mapping("mapping.toml", "csv")?;
    if xlsx {
        write_mapping("mapping-xlsx.toml", "xlsx")?;
    }
    Ok(stats)
}

fn mapping_text(ext: &str, awards: bool) -> String {
    let [loan_id, loan_date, loan_principal, loan_interest] = LOANS_HEADER;
    let mut text = format!(
        r#"
[firms]                                   # 市场监管：企业名录
file = "企业名录.{ext}"
id = "统一社会信用代码"
name = "企业名称"
facts = {{ "行业" = "国民经济行业门类" }}

[[yearly]]                                # 税务：年度申报（万元）
file = "税务_年度申报.{ext}"
id = "统一社会信用代码"
year = "年度"
unit = "万元"
facts = {{ "营业收入" = "营业收入（万元）", "研发费用" = "研发费用（万元）" }}

[[yearly]]                                # 统计：规上名录、限上批零销售额
file = "统计_年度.{ext}"
id = "统一社会信用代码"
year = "统计年度"
unit = "万元"
bools = "是/否"
facts = {{ "规上企业" = "规模以上工业企业", "商品销售额" = "限额以上批零商品销售额（万元）" }}

[[events]]                                # 金融办：新增贷款（每笔：放款日、本金、实付利息；元，带千分位）
file = "{LOANS_FILE}.{ext}"
fact = "新增贷款"
id = "{loan_id}"
date = "{loan_date}"
unit = "元"
fields = {{ "本金" = "{loan_principal}", "实付利息" = "{loan_interest}" }}

[[events]]                                # 金融办：上市进程节点
file = "金融办_上市进程.{ext}"
fact = "上市进程"
id = "统一社会信用代码"
date = "日期"
value = "上市阶段"

[[events]]                                # 经信：荣誉称号（含有效期）
file = "经信_荣誉称号.{ext}"
fact = "荣誉称号"
id = "统一社会信用代码"
date = "认定日期"
until = "有效期至"
value = "称号"

[[events]]                                # 科技：高新技术企业证书
file = "科技_高新技术企业.{ext}"
fact = "高企证书"
id = "统一社会信用代码"
date = "发证日期"
until = "有效期至"

[[events]]                                # 信用：严重失信主体名单
file = "信用_严重失信名单.{ext}"
fact = "严重失信名单"
id = "统一社会信用代码"
date = "列入日期"
until = "移出日期"

[[events]]                                # 市场监管：园区归属（迁入日至迁出日）
file = "{ZONES_FILE}.{ext}"
fact = "所属园区"
id = "统一社会信用代码"
date = "迁入日期"
until = "迁出日期"
value = "园区"
"#
    );
    if awards {
        let [id, clause, period, tranche, amount] = AWARDS_HEADER;
        text.push_str(&format!(
            r#"
[[awards]]                                # 兑现记录：样例企业的历史兑现（元）
file = "{AWARDS_FILE}.{ext}"
id = "{id}"
clause = "{clause}"
period = "{period}"
tranche = "{tranche}"
amount = "{amount}"
unit = "元"
"#
        ));
    }
    text
}

/// A date as 经信 exports it: `2023/3/1`.
fn slash(d: Date) -> String {
    format!("{}/{}/{}", d.y, d.m, d.d)
}

/// A date as 信用 exports it: `2023年3月1日`.
fn cn(d: Date) -> String {
    format!("{}年{}月{}日", d.y, d.m, d.d)
}

/// Two planted firms make every clause of the seed pack pay somewhere, whatever the seed: a
/// manufacturer crossing 100亿 in 2022 (or the generated year nearest to it) that lists that
/// year while holding a 专精特新小巨人 title, and a large wholesaler growing fast.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Flagship,
    Trader,
    Ordinary,
}

/// What the first draws of a firm's stream decide; every later record follows from it.
struct Profile {
    id: String,
    name: String,
    role: Role,
    industry: usize,
    /// 制造业, 信息技术 or 科研技术服务: candidates for 高企 certificates and titles.
    tech: bool,
    /// First generated year and last year of the range.
    y0: i32,
    y1: i32,
    /// The flagship's year of crossing 100亿.
    yc: i32,
    founded: i32,
    /// Revenue (分, as a float) in the firm's first generated year.
    rev0: f64,
    /// Mean log growth per year and its volatility.
    trend: f64,
    vol: f64,
    /// Decimals written in 万元 columns, and the 分 per last decimal.
    dp: u32,
    grain: i64,
    /// R&D spending as a share of revenue; None: the firm reports none.
    rnd_intensity: Option<f64>,
}

impl Profile {
    fn flagship(&self) -> bool {
        self.role == Role::Flagship
    }
    fn planted(&self) -> bool {
        self.role != Role::Ordinary
    }
}

/// One firm: its register row, then its yearly figures, certificates, titles, listing stages
/// and credit record, each drawn from the firm's own stream in this order (the order is part
/// of the output: the same seed must give the same bytes).
fn gen_firm(o: &mut Out, i: u64, seed: u64, y0: i32, y1: i32) -> Result<(), Error> {
    let r = &mut firm_rng(seed, i);
    let role = match i {
        0 => Role::Flagship,
        1 => Role::Trader,
        _ => Role::Ordinary,
    };
    let (pf, founded_on) = profile(r, credit_code(i, seed), role, y0, y1);
    o.firms.row(&[
        F::T(&pf.id),
        F::T(&pf.name),
        F::T(INDUSTRIES[pf.industry]),
        F::T(&founded_on),
    ])?;
    // Drawn from nothing: the firm's stream is untouched.
    o.zones
        .row(&[F::T(&pf.id), F::T(HOME_ZONE), F::T(&founded_on), F::Empty])?;
    write_years(o, r, &pf)?;
    write_hightech(o, r, &pf)?;
    write_titles(o, r, &pf)?;
    write_listing(o, r, &pf)?;
    write_credit(o, r, &pf)
}

/// Draws the firm's profile and its founding date (as written in the register).
fn profile(r: &mut ChaCha8Rng, id: String, role: Role, y0: i32, y1: i32) -> (Profile, String) {
    let flagship = role == Role::Flagship;
    let planted = role != Role::Ordinary;
    let yc = 2022.clamp(y0, y1);
    let industry = draw_industry(r, role);
    let tech = industry <= 2;
    let large = planted || r.random_bool(0.01);
    let mut rev = initial_revenue(r, role, large, y0, yc);
    let old = planted || r.random_bool(0.8);
    let founded = if old {
        y0 - r.random_range(1..=25)
    } else {
        r.random_range(y0..=y1)
    };
    if !old {
        rev /= 5.0;
    }
    // Giants grow slower and steadier than small firms.
    let giant = rev >= 50.0 * YI;
    let trend = match role {
        Role::Flagship => 0.12,
        Role::Trader => 0.15,
        Role::Ordinary if giant => 0.04 + 0.03 * normal(r),
        Role::Ordinary => 0.06 + 0.08 * normal(r),
    };
    let vol = if planted {
        0.0
    } else if giant {
        r.random_range(0.03..0.08)
    } else {
        r.random_range(0.08..0.25)
    };
    let dp = r.random_range(2..=6u32);
    let rnd_intensity = if tech {
        (!r.random_bool(0.15)).then(|| 0.001 + 0.099 * r.random::<f64>().powf(1.6))
    } else {
        (!r.random_bool(0.6)).then(|| 0.01 * r.random::<f64>())
    };
    let name = firm_name(r, industry, large);
    let founded_on = random_date(r, founded, 1..=12).to_string();
    let pf = Profile {
        id,
        name,
        role,
        industry,
        tech,
        y0,
        y1,
        yc,
        founded,
        rev0: rev,
        trend,
        vol,
        dp,
        grain: 10i64.pow(6 - dp),
        rnd_intensity: if flagship { Some(0.045) } else { rnd_intensity },
    };
    (pf, founded_on)
}

/// The planted firms' industries are fixed; the others follow [`INDUSTRY_SHARE`].
fn draw_industry(r: &mut ChaCha8Rng, role: Role) -> usize {
    match role {
        Role::Flagship => MANUFACTURING,
        Role::Trader => WHOLESALE,
        Role::Ordinary => {
            let x = r.random_range(0..1000u32);
            let mut acc = 0;
            INDUSTRY_SHARE
                .iter()
                .position(|&s| {
                    acc += s;
                    x < acc
                })
                .unwrap_or(6)
        }
    }
}

/// Size: a log-normal body and a Pareto tail (a few firms above 100亿).
fn initial_revenue(r: &mut ChaCha8Rng, role: Role, large: bool, y0: i32, yc: i32) -> f64 {
    match role {
        // 95亿 the year before crossing, growing e^0.12 a year.
        Role::Flagship => 95.0 * YI * (-0.12 * (yc - 1 - y0) as f64).exp(),
        Role::Trader => 6.0 * YI,
        Role::Ordinary if large => {
            let u: f64 = r.random::<f64>().max(1e-9);
            (5.0 * YI * u.powf(-1.0 / 0.9)).min(2000.0 * YI)
        }
        Role::Ordinary => (600.0 * WAN * (1.5 * normal(r)).exp()).max(10.0 * WAN),
    }
}

/// `宁波` + two brand characters + a trade word of the industry + the legal form.
fn firm_name(r: &mut ChaCha8Rng, industry: usize, large: bool) -> String {
    let chars: Vec<char> = BRANDS.chars().collect();
    let a = chars[r.random_range(0..chars.len())];
    let b = chars[r.random_range(0..chars.len())];
    let form = if large || r.random_bool(0.1) {
        pick(r, &["股份有限公司", "集团有限公司"])
    } else {
        "有限公司"
    };
    let region = if r.random_bool(0.85) {
        "宁波"
    } else {
        "浙江"
    };
    format!("{region}{a}{b}{}{form}", pick(r, WORDS[industry]))
}

/// Tax, statistics and loan rows for every year the firm exists (it may deregister).
fn write_years(o: &mut Out, r: &mut ChaCha8Rng, pf: &Profile) -> Result<(), Error> {
    let (id, planted, grain, dp) = (&pf.id, pf.planted(), pf.grain, pf.dp);
    let start = pf.founded.max(pf.y0);
    let mut in_scale = false;
    let mut rev = pf.rev0;
    for y in start..=pf.y1 {
        if y > start {
            if !planted && r.random_bool(0.02) {
                break; // deregistered
            }
            let shock = if y == 2020 && !planted { -0.06 } else { 0.0 };
            let dip = if !planted && r.random_bool(0.08) {
                -0.35
            } else {
                0.0
            };
            rev *= (pf.trend + pf.vol * normal(r) + shock + dip).exp();
        }
        let rev_fen = round_to(rev, grain);
        let rnd = pf
            .rnd_intensity
            .map(|k| round_to(rev * k * (0.2 * normal(r)).exp(), grain).min(rev_fen / 5));
        let ys = y.to_string();
        let rev_f = if !planted && r.random_bool(0.01) {
            F::Empty
        } else {
            F::Money(rev_fen, Unit::Wan, dp, false)
        };
        let rnd_f = rnd.map_or(F::Empty, |v| F::Money(v, Unit::Wan, dp, false));
        o.tax
            .row(&[F::T(id), F::T(&pf.name), F::T(&ys), rev_f, rnd_f])?;

        if pf.industry == MANUFACTURING {
            // 规上: enter at 2000万; once in, stay while above 1500万.
            in_scale = rev >= 2000.0 * WAN || (in_scale && rev >= 1500.0 * WAN);
            o.stats.row(&[
                F::T(id),
                F::T(&ys),
                F::T(if in_scale { "是" } else { "否" }),
                F::Empty,
            ])?;
        } else if pf.industry == WHOLESALE && rev >= 500.0 * WAN {
            let sales = round_to(rev * r.random_range(0.85..1.0), grain);
            o.stats.row(&[
                F::T(id),
                F::T(&ys),
                F::Empty,
                F::Money(sales, Unit::Wan, dp, false),
            ])?;
        }
        write_loan(o, r, id, y, rev)?;
    }
    Ok(())
}

/// A year's new loan and the interest paid on it, for some firms (more of the larger ones).
fn write_loan(o: &mut Out, r: &mut ChaCha8Rng, id: &str, y: i32, rev: f64) -> Result<(), Error> {
    let p_loan = if rev >= 1.0 * YI { 0.4 } else { 0.2 };
    if r.random_bool(p_loan) {
        let principal = round_to(rev * r.random_range(0.05..0.4), 10 * WAN as i64);
        let interest = (principal as f64 * r.random_range(0.0345..0.06) * r.random_range(0.25..1.0))
            .round() as i64;
        let interest = interest.max(1);
        // The day comes from the draws already made, so that every other file keeps its bytes.
        let m = 1 + (interest % 12) as u32;
        let d = 1 + ((interest / 12) % days_in_month(y, m) as i64) as u32;
        o.loans.row(&[
            F::T(id),
            F::T(&Date { y, m, d }.to_string()),
            F::Money(principal, Unit::Yuan, 2, true),
            F::Money(interest, Unit::Yuan, 2, true),
        ])?;
    }
    Ok(())
}

/// 高企证书: three-year certificates issued in the autumn batches, often renewed.
fn write_hightech(o: &mut Out, r: &mut ChaCha8Rng, pf: &Profile) -> Result<(), Error> {
    let (y0, y1, founded, flagship) = (pf.y0, pf.y1, pf.founded, pf.flagship());
    let eligible = pf.tech && pf.rnd_intensity.is_some_and(|k| k >= 0.03);
    if !(flagship || (eligible && r.random_bool(0.6))) {
        return Ok(());
    }
    let mut y = if flagship {
        y0 - 1
    } else {
        r.random_range((y0 - 5).max(founded + 1)..=y1.max(founded + 1))
    };
    while y <= y1 {
        let d = random_date(r, y, 10..=12);
        let until = validity_end(d, 3);
        let no = format!("GR{y}33{:06}", r.random_range(0..1_000_000));
        o.hightech.row(&[
            F::T(&pf.id),
            F::T(&no),
            F::T(&d.to_string()),
            F::T(&until.to_string()),
        ])?;
        y += if flagship || r.random_bool(0.75) {
            3
        } else if r.random_bool(0.3) {
            4
        } else {
            break;
        };
    }
    Ok(())
}

/// 荣誉称号 for established industrial and tech firms, dated `2023/3/1` as 经信 exports them.
fn write_titles(o: &mut Out, r: &mut ChaCha8Rng, pf: &Profile) -> Result<(), Error> {
    let (y0, y1, founded, flagship, rev0) = (pf.y0, pf.y1, pf.founded, pf.flagship(), pf.rev0);
    if !((pf.tech && rev0 >= 3000.0 * WAN) || flagship) {
        return Ok(());
    }
    let chances = [if rev0 >= 5.0 * YI { 0.05 } else { 0.0 }, 0.04, 0.02, 0.10];
    for (t, &p) in chances.iter().enumerate() {
        let forced = flagship && t == 1;
        if !(forced || r.random_bool(p)) {
            continue;
        }
        let mut y = if forced {
            y0 - 1
        } else {
            r.random_range((y0 - 4).max(founded + 1)..=y1.max(founded + 1))
        };
        while y <= y1 {
            let d = random_date(r, y, 1..=12);
            let until = validity_end(d, 3);
            o.titles.row(&[
                F::T(&pf.id),
                F::T(TITLES[t]),
                F::T(&slash(d)),
                F::T(&slash(until)),
            ])?;
            if !(forced || r.random_bool(0.5)) {
                break;
            }
            y += 3;
        }
    }
    Ok(())
}

/// 上市进程: a small share, more among larger firms; stages may be skipped, some predate 2022.
/// The flagship files in the year before crossing 100亿 and lists in that year.
fn write_listing(o: &mut Out, r: &mut ChaCha8Rng, pf: &Profile) -> Result<(), Error> {
    let (y0, y1, founded, yc, rev0) = (pf.y0, pf.y1, pf.founded, pf.yc, pf.rev0);
    let p_list: f64 = 0.01
        + if rev0 >= 1.0 * YI { 0.06 } else { 0.0 }
        + if rev0 >= 10.0 * YI { 0.1 } else { 0.0 };
    let mut row = |stage: usize, d: Date| {
        o.listing.row(&[
            F::T(&pf.id),
            F::T(&pf.name),
            F::T(STAGES[stage]),
            F::T(&d.to_string()),
        ])
    };
    if pf.flagship() {
        let stages = [
            (
                1,
                Date {
                    y: yc - 1,
                    m: 3,
                    d: 15,
                },
            ),
            (
                2,
                Date {
                    y: yc - 1,
                    m: 11,
                    d: 20,
                },
            ),
            (3, Date { y: yc, m: 6, d: 18 }),
        ];
        for (stage, d) in stages {
            row(stage, d)?;
        }
    } else if r.random_bool(p_list.min(1.0)) {
        let mut stage = if r.random_bool(0.4) { 0 } else { 1 };
        let start = r.random_range((y0 - 3).max(founded + 1)..=y1.max(founded + 1));
        let mut day = to_days(random_date(r, start, 1..=12));
        let end = to_days(Date::year_end(y1));
        while day <= end {
            row(stage, from_days(day))?;
            if stage == 3 || !r.random_bool(0.7) {
                break;
            }
            // Some go from the innovation layer straight to the filing, skipping 辅导期 in the records.
            stage += if stage == 0 && r.random_bool(0.2) {
                2
            } else {
                1
            };
            day += r.random_range(60..540);
        }
    }
    Ok(())
}

/// 严重失信名单: a few firms, some of them later repaired; dated `2023年3月1日`.
fn write_credit(o: &mut Out, r: &mut ChaCha8Rng, pf: &Profile) -> Result<(), Error> {
    let (y0, y1, founded) = (pf.y0, pf.y1, pf.founded);
    if r.random_bool(0.003) {
        let y = r.random_range((y0 - 2).max(founded + 1)..=y1.max(founded + 1));
        let d = random_date(r, y, 1..=12);
        let until = r.random_bool(0.5).then(|| {
            let k = r.random_range(1..=3);
            cn(validity_end(d, k))
        });
        if y <= y1 {
            let u = until.as_deref().map_or(F::Empty, F::T);
            o.credit.row(&[F::T(&pf.id), F::T(&cn(d)), u])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            let c = credit_code(i, 42);
            assert_eq!(huiqi_ir::uscc::validate(&c), Ok(()), "{c}");
            assert!(seen.insert(c));
        }
    }

    #[test]
    fn money_text() {
        let mut s = String::new();
        fmt_money(&mut s, 1_234_567_891, Unit::Wan, 6, false);
        assert_eq!(s, "1234.567891");
        fmt_money(&mut s, 1_234_500_000, Unit::Wan, 2, false);
        assert_eq!(s, "1234.50");
        fmt_money(&mut s, 123_456_789, Unit::Yuan, 2, true);
        assert_eq!(s, "1,234,567.89");
        fmt_money(&mut s, -5, Unit::Yuan, 2, true);
        assert_eq!(s, "-0.05");
    }
}

//! `generate_seed_zones`: the seed page's four zones — 广州、成都、宁波、长沙高新区 — as their
//! departments would export them, with firm-level rows that add up exactly to the page's
//! published aggregates under the definitions of `indicators/zones.toml`:
//!
//! - a firm is in zone Z at date D when a 所属园区 record of Z starts on or before D and has no
//!   end or ends on or after D; an event tag (产业链 = v, 战新企业, 高企证书) holds at D the same
//!   way; 规上企业 is read for the period's year;
//! - period (Y, M) is read at the last day of month M of year Y; its set is the firms in the zone
//!   then that pass the filter; its value is their months 1–M of year Y (missing months are 0);
//! - 同口径 growth compares with the same set's months 1–M of year Y − 1; the nominal base is the
//!   set of (Y − 1, M) with its own figures. The page's growth rates are 同口径.
//!
//! The zones are built in memory (a few thousand firms) from one ChaCha stream: a calibrated
//! figure belongs to a set of firms, so each set's total is allocated across its firms (largest
//! remainder over integer weights) before anything is written. Amounts are integer 元 (whole
//! 分 in the files, written in 万元 with as many decimals as they need); floats only drive the
//! draws. Firms leave and enter zones, the 规上 register and the 产业链 and 战新 lists on purpose,
//! so that nominal and 同口径 bases differ, without touching the calibrated sets.

use std::collections::HashSet;
use std::path::Path;

use huiqi_ir::Date;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{credit_code_in, normal, pick, random_date, GenStats, Sheet, F, INDUSTRIES, WORDS};
use crate::dates::{from_days, to_days, validity_end};
use crate::error::Error;
use crate::mapping::Unit;

/// The zones, in the order of the pack's enum 园区.
const ZONES: [&str; 4] = ["广州高新区", "成都高新区", "宁波高新区", "长沙高新区"];
const GZ: usize = 0;
const CD: usize = 1;
const NB: usize = 2;
const CS: usize = 3;

/// Where a zone's firms register: credit-code region, name prefixes, brand characters, and the
/// province digits of 高企 certificate numbers.
struct Place {
    region: &'static str,
    prefixes: &'static [&'static str],
    brands: &'static str,
    province: &'static str,
}

const PLACES: [Place; 4] = [
    Place {
        region: "440101",
        prefixes: &["广州", "广州", "广州", "黄埔"],
        brands: "穗粤越珠岭南华天海鹏禾信达湾科瑞安创智联宏启明",
        province: "44",
    },
    Place {
        region: "510100",
        prefixes: &["成都"],
        brands: "蓉锦蜀川华西芙岷峨青天瑞和鑫创智云数锐迅达通安",
        province: "51",
    },
    Place {
        region: "330201",
        prefixes: &["宁波", "宁波", "宁波", "浙江"],
        brands: "华启瑞丰达鑫恒盛德隆兴泰宏博源汇新天科海甬明东越港江峰晨光远诚信安康",
        province: "33",
    },
    Place {
        region: "430100",
        prefixes: &["长沙", "长沙", "长沙", "湖南"],
        brands: "湘麓岳星橘洲楚潇中南华天信智联远航拓",
        province: "43",
    },
];

/// Regions of firms that come into a zone from outside the four.
const OUTSIDE: [&str; 4] = ["110108", "310115", "440300", "330106"];

/// The pack's enum 产业链类别, and the trade words of firms on each chain.
const CHAINS: [&str; 3] = ["大数据和网络安全", "数字文创", "新一代通信与人工智能"];
const CHAIN_WORDS: [&[&str]; 3] = [
    &[
        "大数据科技",
        "网络安全技术",
        "信息安全技术",
        "数据服务",
        "云计算科技",
    ],
    &[
        "数字娱乐",
        "互动娱乐",
        "动漫科技",
        "游戏科技",
        "数字文化传媒",
    ],
    &[
        "通信技术",
        "人工智能科技",
        "物联网科技",
        "智能科技",
        "微电子科技",
    ],
];

// Indices into INDUSTRIES (the pack's enum 行业门类).
const MFG: usize = 0;
const IT: usize = 1;
const SCI: usize = 2;
const TRADE: usize = 3;
const ESTATE: usize = 4;
const FIN: usize = 5;
const OTHER: usize = 6;

/// The industry mix of ordinary firms (‰), and the same without software (成都高新区's
/// software firms are all calibrated).
const MIX: [(usize, u32); 7] = [
    (MFG, 330),
    (IT, 180),
    (SCI, 150),
    (TRADE, 150),
    (ESTATE, 40),
    (FIN, 40),
    (OTHER, 110),
];
const MIX_NO_IT: [(usize, u32); 6] = [
    (MFG, 330),
    (SCI, 150),
    (TRADE, 150),
    (ESTATE, 40),
    (FIN, 40),
    (OTHER, 110),
];

/// Months on record: 2020-01 … 2022-11.
const MONTHS: usize = 35;
/// 元 per 亿元.
const YI: i64 = 100_000_000;

/// Monthly shape (‰ of an average month): 2020 with the spring's lockdown, then 2021 (also 2022's).
const SEASON: [[i64; 12]; 2] = [
    [
        800, 480, 830, 950, 990, 1040, 1000, 1010, 1050, 1010, 1060, 1400,
    ],
    [
        820, 720, 960, 980, 1000, 1050, 1000, 1000, 1040, 1000, 1050, 1380,
    ],
];

/// The published figures (1–11月 2021 over 1–11月 2020, 同口径): 亿元 in 元, growth in ‰.
mod seed {
    use super::YI;
    /// 成都高新区, 软件和信息技术服务业: 2056.4亿元, +46.9%.
    pub const CD_SOFTWARE: (i64, i64) = (20_564 * YI / 10, 469);
    /// Its 规上 part, segment by segment (产业链 at 2021-11-30; None: no tag): firms, 1–11月
    /// revenue, growth (the untagged 19's growth is not published: 35%).
    pub const CD_SEGMENTS: [(Option<usize>, usize, i64, i64); 4] = [
        (Some(0), 159, 27_344 * YI / 100, 611),
        (Some(1), 137, 5_503 * YI / 10, 192),
        (Some(2), 119, 221 * YI, 400),
        (None, 19, 10_106 * YI / 100, 350),
    ];
    /// 规上 software: 434 firms, 1145.8亿元; the rest (规下) carry 910.6亿元.
    pub const CD_SCALE: i64 = 11_458 * YI / 10;
    /// 宁波高新区: 规上服务业营业收入 201亿元 +22.2%; 限上批零销售额 1940亿元 +30%.
    pub const NB_SERVICES: (i64, i64) = (201 * YI, 222);
    pub const NB_TRADE: (i64, i64) = (1_940 * YI, 300);
    /// 规上工业增加值 71.68亿元, of which 战新企业 58.42亿元 (81.5%).
    pub const NB_VALUE_ADDED: i64 = 7_168 * YI / 100;
    pub const NB_STRATEGIC: i64 = 5_842 * YI / 100;
    /// 广州高新区: 87 first 高企 certificates in 1–11月 2022; 研发投入强度 5.8% (‰ of revenue) in 2021.
    pub const GZ_NEW_HIGHTECH: usize = 87;
    pub const GZ_RND_PERMILLE: i64 = 58;
}

/// The base that makes `value` grow by `growth` ‰: value ÷ (1 + growth), to the 元.
fn base_for(value: i64, growth: i64) -> i64 {
    let (n, d) = (i128::from(value) * 1000, 1000 + i128::from(growth));
    ((2 * n + d) / (2 * d)) as i64
}

fn day(y: i32, m: u32, d: u32) -> Date {
    Date { y, m, d }
}

fn plus(d: Date, days: i32) -> Date {
    from_days(to_days(d) + days)
}

/// A uniform date in `a..=b`.
fn between(r: &mut ChaCha8Rng, a: Date, b: Date) -> Date {
    let (a, b) = (to_days(a), to_days(b));
    from_days(r.random_range(a..=b.max(a)))
}

/// The as-of date of the 2021 figures and the last day of the data.
const D21: Date = Date {
    y: 2021,
    m: 11,
    d: 30,
};
const END: Date = Date {
    y: 2022,
    m: 11,
    d: 30,
};

/// The month index (0 = 2020-01) of a date; dates before 2020 are month 0.
fn month_index(d: Date) -> usize {
    if d.y < 2020 {
        0
    } else {
        ((d.y - 2020) * 12 + d.m as i32 - 1) as usize
    }
}

/// A dated record: a zone stint, a tag, a list entry (`value` unused).
#[derive(Clone, Copy, Debug)]
struct Rec {
    value: usize,
    from: Date,
    until: Option<Date>,
}

impl Rec {
    fn holds(&self, d: Date) -> bool {
        self.from <= d && self.until.is_none_or(|u| d <= u)
    }
}

/// The firm's figure its own numbers start from; 营业收入 follows from it.
#[derive(Clone, Copy)]
enum Primary {
    /// 月度营业收入.
    Rev,
    /// 月度商品销售额; revenue is this ‰ of sales.
    Sales(i64),
    /// 工业增加值; value added is this ‰ of revenue.
    Va(i64),
}

/// How a firm stands to its zone.
#[derive(Clone, Copy)]
enum Stay {
    /// Founded in the zone before 2020.
    Native,
    /// Founded in the zone on this date.
    Founded(Date),
    /// Founded before 2020 elsewhere (one of the zones, or outside the four), moved in on this date.
    MovedIn(Date, Option<usize>),
    /// Founded in the zone before 2020, left after this day (its last day in the zone) for another
    /// zone or for outside the four.
    MovedOut(Date, Option<usize>),
}

struct ZFirm {
    id: String,
    name: String,
    /// The zone it was generated for (its certificate numbers' province).
    zone: usize,
    industry: usize,
    founded: Date,
    stints: Vec<Rec>,
    /// 规上企业 in 2020, 2021, 2022 (written for the years with data).
    scale: [bool; 3],
    chains: Vec<Rec>,
    strategic: Vec<Rec>,
    certs: Vec<Date>,
    primary: Primary,
    /// Relative size within a calibrated set, or 元 per month of its primary figure.
    size: f64,
    calibrated: bool,
    /// 1–11月 2021 over 1–11月 2020, and 2022 over 2021 (‰).
    growth: i64,
    growth22: i64,
    /// 元 per month where no month of the year gives a level.
    run: i64,
    /// The primary figure's 1–11月 2021 and 1–11月 2020 (元).
    v21: i64,
    b20: i64,
    /// 研发费用 per 10,000 of revenue; 2021's amount when calibrated.
    rnd_rate: i64,
    rnd21: Option<i64>,
    /// 上市进程 records: (stage index into [`super::STAGES`], date).
    listing: Vec<(usize, Date)>,
}

impl ZFirm {
    fn first(&self) -> usize {
        month_index(self.founded)
    }
    /// Months of January–November of year `2020 + y` on record.
    fn jan_nov(&self, y: usize) -> i64 {
        let first = self.first();
        (y * 12..y * 12 + 11).filter(|&k| k >= first).count() as i64
    }
    fn has_2020(&self) -> bool {
        self.first() < 12
    }
    fn in_zone(&self, z: usize, d: Date) -> bool {
        self.stints.iter().any(|s| s.value == z && s.holds(d))
    }
    /// The first day in the zone it was generated for.
    fn arrived(&self) -> Date {
        self.stints
            .iter()
            .find(|s| s.value == self.zone)
            .map_or(self.founded, |s| s.from)
    }
}

/// What a new firm is.
struct Spec {
    zone: usize,
    industry: usize,
    stay: Stay,
    primary: Primary,
    /// See [`ZFirm::size`]; for firms not calibrated, 元 of revenue per month.
    size: f64,
    /// Trade words of its name (default: its industry's).
    words: Option<&'static [&'static str]>,
}

struct Gen {
    r: ChaCha8Rng,
    code_seed: u64,
    next: u64,
    names: HashSet<String>,
    firms: Vec<ZFirm>,
}

/// A log-normal draw with this median.
fn lognormal(r: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(r)).exp()
}

/// A growth rate (‰) around `mean` ‰, spread by `sigma` in logs.
fn draw_growth(r: &mut ChaCha8Rng, mean: i64, sigma: f64) -> i64 {
    let g = ((1.0 + mean as f64 / 1000.0).ln() + sigma * normal(r)).exp() - 1.0;
    (g * 1000.0).round().clamp(-600.0, 4000.0) as i64
}

/// A random noise factor (‰) around 1000.
fn noise(r: &mut ChaCha8Rng) -> i64 {
    (1000.0 * (0.08 * normal(r)).exp()).round().max(1.0) as i64
}

/// A founding date before 2020, more of them recent.
fn founded_old(r: &mut ChaCha8Rng) -> Date {
    let back = (r.random::<f64>().powf(1.6) * 22.0) as i32;
    random_date(r, 2019 - back, 1..=12)
}

/// A founding date in 2020, 2021 or 2022, outside December 2021 and before the data's end.
fn founded_new(r: &mut ChaCha8Rng) -> Date {
    let y = r.random_range(2020..=2022);
    between(r, day(y, 1, 4), day(y, 11, 28))
}

/// Another zone to come from or go to: mostly 长沙 (or 成都 for 长沙's own firms), else
/// outside the four.
fn elsewhere(r: &mut ChaCha8Rng, zone: usize) -> Option<usize> {
    r.random_bool(0.5)
        .then_some(if zone == CS { CD } else { CS })
}

/// Certificate date in year `y`: the autumn batches; in 2022, before the data ends.
fn cert_date(r: &mut ChaCha8Rng, y: i32) -> Date {
    if y >= 2022 {
        between(r, day(2022, 9, 1), END)
    } else {
        random_date(r, y, 10..=12)
    }
}

/// Largest-remainder shares of `total` (≥ 0) in proportion to `w`; exact. All weights zero:
/// the first takes the total.
fn alloc(total: i64, w: &[u64]) -> Vec<i64> {
    let mut out = vec![0i64; w.len()];
    let sum: u128 = w.iter().map(|&x| u128::from(x)).sum();
    if w.is_empty() {
        return out;
    }
    if sum == 0 {
        out[0] = total;
        return out;
    }
    let t = total.max(0) as u128;
    let mut given: u128 = 0;
    let mut rems = Vec::with_capacity(w.len());
    for (k, &x) in w.iter().enumerate() {
        let p = t * u128::from(x);
        out[k] = (p / sum) as i64;
        given += p / sum;
        rems.push((p % sum, k));
    }
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, k) in rems.iter().take((t - given) as usize) {
        out[k] += 1;
    }
    out
}

/// Float weights as integers (the largest 2^40), for [`alloc`].
fn weights(xs: &[f64]) -> Vec<u64> {
    let max = xs.iter().copied().fold(0.0, f64::max);
    xs.iter()
        .map(|&x| {
            if max > 0.0 && x > 0.0 {
                (x / max * (1u64 << 40) as f64).round().max(1.0) as u64
            } else {
                0
            }
        })
        .collect()
}

/// `a × num ÷ den`, exact integer arithmetic (toward zero).
fn muldiv(a: i64, num: i64, den: i64) -> i64 {
    if den == 0 {
        return 0;
    }
    (i128::from(a) * i128::from(num) / i128::from(den)) as i64
}

impl Gen {
    fn new(seed: u64) -> Gen {
        // 31^6 organisation codes; a shift of half of them keeps these codes away from those
        // of `generate` with the same seed (region 330201 too) by 443 million firms.
        const SPACE: u64 = 887_503_681;
        const HALF: u64 = SPACE / 2;
        let code_seed = (seed % SPACE + 387_420_489 * HALF % SPACE) % SPACE;
        Gen {
            r: ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_0000_2021_1130),
            code_seed,
            next: 0,
            names: HashSet::new(),
            firms: vec![],
        }
    }

    fn name(&mut self, zone: usize, industry: usize, words: Option<&[&str]>) -> String {
        let place = &PLACES[zone];
        let chars: Vec<char> = place.brands.chars().collect();
        let words = words.unwrap_or(WORDS[industry]);
        let mut name = String::new();
        for _ in 0..100 {
            let r = &mut self.r;
            let prefix = pick(r, place.prefixes);
            // Two different brand characters.
            let a = r.random_range(0..chars.len());
            let b = (a + r.random_range(1..chars.len())) % chars.len();
            let (a, b) = (chars[a], chars[b]);
            let word = pick(r, words);
            let form = if r.random_bool(0.12) {
                pick(r, &["股份有限公司", "集团有限公司"])
            } else {
                "有限公司"
            };
            name = format!("{prefix}{a}{b}{word}{form}");
            if self.names.insert(name.clone()) {
                break;
            }
        }
        name
    }

    /// A new firm; its stints follow from `stay`. Scale flags, tags and certificates are the
    /// caller's.
    fn add(&mut self, s: Spec) -> usize {
        let founded = match s.stay {
            Stay::Founded(d) => d,
            _ => founded_old(&mut self.r),
        };
        let (stints, registered) = match s.stay {
            Stay::Native | Stay::Founded(_) => (
                vec![Rec {
                    value: s.zone,
                    from: founded,
                    until: None,
                }],
                Some(s.zone),
            ),
            Stay::MovedIn(d, from) => {
                let mut v = vec![];
                if let Some(z) = from {
                    v.push(Rec {
                        value: z,
                        from: founded,
                        until: Some(plus(d, -1)),
                    });
                }
                v.push(Rec {
                    value: s.zone,
                    from: d,
                    until: None,
                });
                (v, from)
            }
            Stay::MovedOut(d, to) => {
                let mut v = vec![Rec {
                    value: s.zone,
                    from: founded,
                    until: Some(d),
                }];
                if let Some(z) = to {
                    v.push(Rec {
                        value: z,
                        from: plus(d, 1),
                        until: None,
                    });
                }
                (v, Some(s.zone))
            }
        };
        let region = match registered {
            Some(z) => PLACES[z].region,
            None => pick(&mut self.r, &OUTSIDE),
        };
        let id = credit_code_in(self.next, self.code_seed, region);
        self.next += 1;
        let name = self.name(s.zone, s.industry, s.words);
        let r = &mut self.r;
        // Sizes given as revenue: the primary figure's share of it.
        let size = match s.primary {
            Primary::Rev => s.size,
            Primary::Sales(p) => s.size * 1000.0 / p as f64,
            Primary::Va(p) => s.size * p as f64 / 1000.0,
        };
        let tech = matches!(s.industry, MFG | IT | SCI);
        let rnd_rate = if tech {
            r.random_range(150..=1000)
        } else {
            r.random_range(0..=200)
        };
        let (growth, growth22) = (draw_growth(r, 120, 0.2), draw_growth(r, 60, 0.15));
        self.firms.push(ZFirm {
            id,
            name,
            zone: s.zone,
            industry: s.industry,
            founded,
            stints,
            scale: [false; 3],
            chains: vec![],
            strategic: vec![],
            certs: vec![],
            primary: s.primary,
            size,
            calibrated: false,
            growth,
            growth22,
            run: 0,
            v21: 0,
            b20: 0,
            rnd_rate,
            rnd21: None,
            listing: vec![],
        });
        self.firms.len() - 1
    }

    fn primary(&mut self, industry: usize) -> Primary {
        match industry {
            MFG => Primary::Va(self.r.random_range(180..=350)),
            TRADE => Primary::Sales(self.r.random_range(820..=960)),
            _ => Primary::Rev,
        }
    }

    /// In the zone before 2020, or moved in during 2021 (`p_in`, with 2020 figures from
    /// before), or founded in 2021 (`p21`, January–October) or 2020 (`p20`).
    fn stay(&mut self, zone: usize, p_in: f64, p21: f64, p20: f64) -> Stay {
        let r = &mut self.r;
        let u: f64 = r.random();
        if u < p_in {
            let d = between(r, day(2021, 1, 5), day(2021, 11, 25));
            Stay::MovedIn(d, elsewhere(r, zone))
        } else if u < p_in + p21 {
            Stay::Founded(between(r, day(2021, 1, 4), day(2021, 10, 31)))
        } else if u < p_in + p21 + p20 {
            Stay::Founded(between(r, day(2020, 1, 2), day(2020, 12, 28)))
        } else {
            Stay::Native
        }
    }

    /// 规上 flags by size (about 2000万元 a year of revenue).
    fn scale_by_size(&mut self, i: usize, revenue_month: f64) {
        let s = revenue_month * 12.0 >= self.r.random_range(1.6e7..2.4e7);
        self.firms[i].scale = [s; 3];
    }

    /// A tag from a random day between `start` (not before 2018) and `last`.
    fn tag_from(&mut self, start: Date, last: Date) -> Date {
        between(&mut self.r, start.max(day(2018, 1, 1)), last)
    }

    /// Moves a native firm's founding before `year` (its first certificate's) if it is not.
    fn founded_before(&mut self, i: usize, year: i32) {
        let f = &mut self.firms[i];
        if f.founded.y < year {
            return;
        }
        let old = f.founded;
        let back = self.r.random_range(1..=8);
        f.founded = random_date(&mut self.r, year - back, 1..=12);
        for s in f.stints.iter_mut().filter(|s| s.from == old) {
            s.from = f.founded;
        }
    }

    /// 高企 certificates from a random year on, renewed every three years.
    fn random_certs(&mut self, i: usize) {
        let r = &mut self.r;
        let lo = (self.firms[i].founded.y + 1).max(2012);
        if lo > 2022 {
            return;
        }
        let mut y = r.random_range(lo..=2022);
        while y <= 2022 {
            let d = cert_date(r, y);
            self.firms[i].certs.push(d);
            if !r.random_bool(0.75) {
                break;
            }
            y += 3;
        }
    }

    /// Ordinary firms of a zone: industries from `mix` (‰), sizes, 规上 by size; 高企
    /// certificates when `certs`.
    fn ordinary(
        &mut self,
        zone: usize,
        n: usize,
        mix: &[(usize, u32)],
        median: f64,
        certs: bool,
    ) -> Vec<usize> {
        let whole: u32 = mix.iter().map(|m| m.1).sum();
        let mut out = vec![];
        for _ in 0..n {
            let x = self.r.random_range(0..whole);
            let mut acc = 0;
            let industry = mix
                .iter()
                .find(|(_, s)| {
                    acc += s;
                    x < acc
                })
                .map_or(OTHER, |m| m.0);
            let stay = if self.r.random_bool(0.85) {
                Stay::Native
            } else {
                Stay::Founded(founded_new(&mut self.r))
            };
            let primary = self.primary(industry);
            let size = lognormal(&mut self.r, median, 1.3);
            let i = self.add(Spec {
                zone,
                industry,
                stay,
                primary,
                size,
                words: None,
            });
            self.scale_by_size(i, size);
            if certs && matches!(industry, MFG | IT | SCI) && self.r.random_bool(0.3) {
                self.random_certs(i);
            }
            out.push(i);
        }
        out
    }

    /// Shares `value` (1–11月 2021) among `members` by size and months on record, and `base`
    /// (1–11月 2020) by size ÷ (1 + growth); without a base, each firm's 2020 follows from its
    /// own growth.
    fn calibrate(&mut self, members: &[usize], value: i64, base: Option<i64>) {
        let fs = &self.firms;
        let vw: Vec<f64> = members
            .iter()
            .map(|&i| fs[i].size * fs[i].jan_nov(1) as f64)
            .collect();
        let v = alloc(value, &weights(&vw));
        let b = match base {
            Some(b) => {
                let bw: Vec<f64> = members
                    .iter()
                    .map(|&i| {
                        let f = &fs[i];
                        f.size * 1000.0 / (1000 + f.growth) as f64 * f.jan_nov(0) as f64
                    })
                    .collect();
                alloc(b, &weights(&bw))
            }
            None => members
                .iter()
                .zip(&v)
                .map(|(&i, &v)| {
                    let f = &fs[i];
                    muldiv(v, f.jan_nov(0) * 1000, f.jan_nov(1) * (1000 + f.growth))
                })
                .collect(),
        };
        for ((&i, v), b) in members.iter().zip(v).zip(b) {
            let f = &mut self.firms[i];
            f.v21 = v;
            f.b20 = b;
            f.run = v / f.jan_nov(1).max(1);
            f.calibrated = true;
        }
    }

    /// Tags a firm of the zone with chain `c` from a day between its arrival and 2021-11-30; a
    /// few were on another chain before, a few leave the list in 2022.
    fn chain(&mut self, i: usize, c: usize) {
        let start = self.firms[i].arrived().max(day(2018, 1, 1));
        let from = self.tag_from(start, D21);
        let r = &mut self.r;
        if r.random_bool(0.07) && to_days(from) - to_days(start) >= 60 {
            let old = (c + r.random_range(1..=2)) % 3;
            let old_from = between(r, start, plus(from, -30));
            self.firms[i].chains.push(Rec {
                value: old,
                from: old_from,
                until: Some(plus(from, -1)),
            });
        }
        let until = r
            .random_bool(0.04)
            .then(|| between(r, day(2022, 1, 1), END));
        self.firms[i].chains.push(Rec {
            value: c,
            from,
            until,
        });
    }
}

/// 成都高新区: the software industry in four calibrated parts (three chains and the untagged
/// among the 434 规上 firms; the 规下), firms that left in 2021 or came after November 2021,
/// and firms of other industries (some on the chains).
fn chengdu(g: &mut Gen) {
    let (total, total_growth) = seed::CD_SOFTWARE;
    let mut rest_base = base_for(total, total_growth);
    for (si, &(tag, n, value, gr)) in seed::CD_SEGMENTS.iter().enumerate() {
        let mut members = vec![];
        for k in 0..n {
            // Edges: moved in on the as-of day; left after the as-of day (still in).
            let stay = match (si, k) {
                (0, 0) => Stay::MovedIn(D21, Some(CS)),
                (1, 0) => Stay::MovedOut(D21, Some(CS)),
                (3, 0..7) => Stay::Native,
                _ => g.stay(CD, 0.05, 0.02, 0.04),
            };
            let size = lognormal(&mut g.r, 1.0, if si == 1 { 1.3 } else { 1.0 });
            let i = g.add(Spec {
                zone: CD,
                industry: IT,
                stay,
                primary: Primary::Rev,
                size,
                words: tag.map(|c| CHAIN_WORDS[c]),
            });
            let has_2020 = g.firms[i].has_2020();
            let r = &mut g.r;
            g.firms[i].scale = [has_2020 && r.random_bool(0.88), true, r.random_bool(0.95)];
            g.firms[i].growth = draw_growth(r, gr, 0.25);
            match tag {
                // Edge: on the chain until the as-of day (inclusive), then on another.
                Some(0) if k == 1 => {
                    let from = g.tag_from(g.firms[i].arrived(), day(2021, 6, 30));
                    g.firms[i].chains = vec![
                        Rec {
                            value: 0,
                            from,
                            until: Some(D21),
                        },
                        Rec {
                            value: 2,
                            from: plus(D21, 1),
                            until: None,
                        },
                    ];
                }
                Some(c) => g.chain(i, c),
                // Untagged: four left a chain before the as-of day, three join one after it.
                None if k < 4 => {
                    let from = g.tag_from(g.firms[i].arrived(), day(2021, 3, 31));
                    let r = &mut g.r;
                    let until = between(r, plus(from, 30), day(2021, 10, 31));
                    let value = r.random_range(0..3);
                    g.firms[i].chains.push(Rec {
                        value,
                        from,
                        until: Some(until),
                    });
                }
                None if k < 7 => {
                    let r = &mut g.r;
                    let from = between(r, plus(D21, 1), day(2022, 6, 30));
                    let value = r.random_range(0..3);
                    g.firms[i].chains.push(Rec {
                        value,
                        from,
                        until: None,
                    });
                }
                None => {}
            }
            members.push(i);
        }
        let base = base_for(value, gr);
        rest_base -= base;
        g.calibrate(&members, value, Some(base));
    }

    // 规下 software: the rest of the value and of the 同口径 base.
    let mut members = vec![];
    for _ in 0..1250 {
        let stay = g.stay(CD, 0.02, 0.10, 0.08);
        let size = lognormal(&mut g.r, 1.0, 1.1);
        let i = g.add(Spec {
            zone: CD,
            industry: IT,
            stay,
            primary: Primary::Rev,
            size,
            words: None,
        });
        let has_2020 = g.firms[i].has_2020();
        let r = &mut g.r;
        g.firms[i].scale = [has_2020 && r.random_bool(0.03), false, r.random_bool(0.03)];
        g.firms[i].growth = draw_growth(r, 700, 0.3);
        if r.random_bool(0.12) {
            let c = r.random_range(0..3);
            g.chain(i, c);
        }
        members.push(i);
    }
    g.calibrate(&members, total - seed::CD_SCALE, Some(rest_base));

    // Software firms that left in 2021 (in the 2020 set, not in 2021's), some still tagged.
    for _ in 0..45 {
        let r = &mut g.r;
        let d = between(r, day(2021, 1, 10), day(2021, 11, 29));
        let to = elsewhere(r, CD);
        let size = lognormal(r, 8e6, 1.0);
        let i = g.add(Spec {
            zone: CD,
            industry: IT,
            stay: Stay::MovedOut(d, to),
            primary: Primary::Rev,
            size,
            words: None,
        });
        let s = g.r.random_bool(0.5);
        g.firms[i].scale = [s; 3];
        if g.r.random_bool(0.4) {
            let c = g.r.random_range(0..3);
            g.chain(i, c);
        }
    }
    // Software firms that came after the as-of day (the first on the next day).
    for k in 0..8 {
        let r = &mut g.r;
        let d = if k == 0 {
            plus(D21, 1)
        } else {
            between(r, plus(D21, 1), day(2022, 9, 30))
        };
        let from = elsewhere(r, CD);
        let size = lognormal(r, 8e6, 1.0);
        let i = g.add(Spec {
            zone: CD,
            industry: IT,
            stay: Stay::MovedIn(d, from),
            primary: Primary::Rev,
            size,
            words: None,
        });
        let s = g.r.random_bool(0.6);
        g.firms[i].scale = [s; 3];
        if g.r.random_bool(0.5) {
            let c = g.r.random_range(0..3);
            let from = g.tag_from(d, END);
            g.firms[i].chains.push(Rec {
                value: c,
                from,
                until: None,
            });
        }
    }
    // Other industries; manufacturers and research firms on the chains too.
    for i in g.ordinary(CD, 350, &MIX_NO_IT, 3e6, true) {
        let industry = g.firms[i].industry;
        let r = &mut g.r;
        let c = match industry {
            MFG if r.random_bool(0.2) => Some(2),
            SCI if r.random_bool(0.1) => Some(r.random_range(0..3)),
            _ => None,
        };
        if let Some(c) = c {
            let from = g.tag_from(g.firms[i].arrived(), END);
            g.firms[i].chains.push(Rec {
                value: c,
                from,
                until: None,
            });
        }
    }
    certs_here_and_there(g, CD);
}

/// Random 高企 certificates for the tech firms of a zone generated so far without any.
fn certs_here_and_there(g: &mut Gen, zone: usize) {
    for i in 0..g.firms.len() {
        let f = &g.firms[i];
        if f.zone == zone
            && f.certs.is_empty()
            && matches!(f.industry, MFG | IT | SCI)
            && g.r.random_bool(0.2)
        {
            g.random_certs(i);
        }
    }
}

/// 宁波高新区: 规上服务业 (with 小升规, firms leaving the register and the zone), 限上批零,
/// 规上工业 with its 战新 part, and the 规下 and other firms around them.
fn ningbo(g: &mut Gen) {
    const SERVICES: [(usize, u32); 3] = [(IT, 400), (SCI, 350), (OTHER, 250)];
    let service = |r: &mut ChaCha8Rng| {
        let x = r.random_range(0..1000u32);
        let mut acc = 0;
        SERVICES
            .iter()
            .find(|(_, s)| {
                acc += s;
                x < acc
            })
            .map_or(OTHER, |s| s.0)
    };
    // 规上服务业.
    let (value, gr) = seed::NB_SERVICES;
    let mut members = vec![];
    for _ in 0..190 {
        let industry = service(&mut g.r);
        let stay = g.stay(NB, 0.04, 0.02, 0.04);
        let size = lognormal(&mut g.r, 1.0, 1.0);
        let i = g.add(Spec {
            zone: NB,
            industry,
            stay,
            primary: Primary::Rev,
            size,
            words: None,
        });
        let has_2020 = g.firms[i].has_2020();
        let r = &mut g.r;
        g.firms[i].scale = [has_2020 && r.random_bool(0.86), true, r.random_bool(0.95)];
        g.firms[i].growth = draw_growth(r, gr, 0.2);
        members.push(i);
    }
    g.calibrate(&members, value, Some(base_for(value, gr)));
    // Services that left the register in 2021, left the zone in 2021, or came after November.
    for k in 0..26 {
        let industry = service(&mut g.r);
        let r = &mut g.r;
        let (stay, scale, median) = match k {
            0..15 => (Stay::Native, [true, false, false], 1.5e6),
            15..23 => {
                let d = between(r, day(2021, 2, 1), day(2021, 11, 29));
                (Stay::MovedOut(d, elsewhere(r, NB)), [true; 3], 4e6)
            }
            _ => {
                let d = between(r, plus(D21, 1), day(2022, 8, 31));
                (Stay::MovedIn(d, elsewhere(r, NB)), [true; 3], 4e6)
            }
        };
        let size = lognormal(r, median, 0.5);
        let i = g.add(Spec {
            zone: NB,
            industry,
            stay,
            primary: Primary::Rev,
            size,
            words: None,
        });
        g.firms[i].scale = scale;
    }
    // 规上 real estate and finance: large, and outside 规上服务业.
    for k in 0..30 {
        let industry = if k % 2 == 0 { ESTATE } else { FIN };
        let size = lognormal(&mut g.r, 2.5e7, 1.0);
        let i = g.add(Spec {
            zone: NB,
            industry,
            stay: Stay::Native,
            primary: Primary::Rev,
            size,
            words: None,
        });
        g.firms[i].scale = [true; 3];
    }

    // 限上批零.
    let (value, gr) = seed::NB_TRADE;
    let mut members = vec![];
    for _ in 0..260 {
        let stay = g.stay(NB, 0.03, 0.02, 0.04);
        let primary = g.primary(TRADE);
        let size = lognormal(&mut g.r, 1.0, 1.2);
        let i = g.add(Spec {
            zone: NB,
            industry: TRADE,
            stay,
            primary,
            size,
            words: None,
        });
        let has_2020 = g.firms[i].has_2020();
        let r = &mut g.r;
        g.firms[i].scale = [has_2020 && r.random_bool(0.9), true, r.random_bool(0.96)];
        g.firms[i].growth = draw_growth(r, gr, 0.2);
        members.push(i);
    }
    g.calibrate(&members, value, Some(base_for(value, gr)));
    for _ in 0..120 {
        let primary = g.primary(TRADE);
        let size = lognormal(&mut g.r, 8e5, 0.7);
        let stay = g.stay(NB, 0.0, 0.05, 0.05);
        let i = g.add(Spec {
            zone: NB,
            industry: TRADE,
            stay,
            primary,
            size,
            words: None,
        });
        let s = g.r.random_bool(0.05) && g.firms[i].has_2020();
        g.firms[i].scale = [s, false, false];
    }

    // 规上工业: 战新 firms carry 81.5% of the value added. Around them: firms that left the 战新
    // list before the as-of day, firms that joined it after.
    for (strategic, n, value) in [
        (true, 100, seed::NB_STRATEGIC),
        (false, 140, seed::NB_VALUE_ADDED - seed::NB_STRATEGIC),
    ] {
        let mut members = vec![];
        for k in 0..n {
            let stay = if !strategic && k < 9 {
                Stay::Native
            } else {
                g.stay(NB, 0.02, 0.0, 0.03)
            };
            let primary = g.primary(MFG);
            let size = lognormal(&mut g.r, 1.0, 1.0);
            let i = g.add(Spec {
                zone: NB,
                industry: MFG,
                stay,
                primary,
                size,
                words: None,
            });
            let has_2020 = g.firms[i].has_2020();
            let start = g.firms[i].arrived().max(day(2019, 1, 1));
            let r = &mut g.r;
            g.firms[i].scale = [has_2020 && r.random_bool(0.93), true, r.random_bool(0.97)];
            g.firms[i].growth = draw_growth(r, 150, 0.2);
            let rec = if strategic {
                let from = between(r, start, D21);
                let until = r.random_bool(0.1).then(|| between(r, day(2022, 1, 1), END));
                Some((from, until))
            } else if k < 5 {
                let from = between(r, start, day(2020, 12, 31));
                Some((from, Some(between(r, day(2021, 3, 1), day(2021, 10, 31)))))
            } else if k < 9 {
                Some((between(r, plus(D21, 1), day(2022, 10, 31)), None))
            } else {
                None
            };
            if let Some((from, until)) = rec {
                g.firms[i].strategic.push(Rec {
                    value: 0,
                    from,
                    until,
                });
            }
            members.push(i);
        }
        g.calibrate(&members, value, None);
    }
    // 规下 manufacturers (some on the 战新 list) and services.
    for _ in 0..150 {
        let primary = g.primary(MFG);
        let size = lognormal(&mut g.r, 1e6, 0.8);
        let stay = g.stay(NB, 0.0, 0.05, 0.05);
        let i = g.add(Spec {
            zone: NB,
            industry: MFG,
            stay,
            primary,
            size,
            words: None,
        });
        if g.r.random_bool(0.1) {
            let from = g.tag_from(g.firms[i].arrived(), END);
            g.firms[i].strategic.push(Rec {
                value: 0,
                from,
                until: None,
            });
        }
    }
    for _ in 0..150 {
        let r = &mut g.r;
        let industry = [IT, SCI, OTHER, OTHER, ESTATE, FIN][r.random_range(0..6)];
        let size = lognormal(r, 6e5, 0.8);
        let stay = g.stay(NB, 0.0, 0.06, 0.06);
        g.add(Spec {
            zone: NB,
            industry,
            stay,
            primary: Primary::Rev,
            size,
            words: None,
        });
    }
    certs_here_and_there(g, NB);
}

/// 广州高新区: 87 first 高企 certificates in 1–11月 2022 among firms in the zone on 2022-11-30,
/// 40 renewals (and re-certifications after a lapse) in 2022, earlier holders; firms that moved
/// in and out in 2021 and 2022 (none in December 2021, so the 2021 set is the same on 30 November
/// and 31 December); 研发费用 calibrated later ([`calibrate_rnd`]).
fn guangzhou(g: &mut Gen) {
    let tech = |r: &mut ChaCha8Rng| [MFG, MFG, MFG, IT, IT, SCI, SCI][r.random_range(0..7)];
    let add = |g: &mut Gen, stay: Stay, industry: usize| {
        let primary = g.primary(industry);
        let size = lognormal(&mut g.r, 2.5e6, 1.3);
        let i = g.add(Spec {
            zone: GZ,
            industry,
            stay,
            primary,
            size,
            words: None,
        });
        g.scale_by_size(i, size);
        if matches!(industry, MFG | IT | SCI) {
            g.firms[i].rnd_rate = g.r.random_range(200..=1200);
        }
        i
    };
    // New 高企 of 2022: two moved in during 2022; the first and last day of the window.
    for k in 0..seed::GZ_NEW_HIGHTECH {
        let industry = tech(&mut g.r);
        let r = &mut g.r;
        let stay = match k {
            2 | 3 => Stay::MovedIn(
                between(r, day(2022, 2, 1), day(2022, 10, 31)),
                elsewhere(r, GZ),
            ),
            _ if r.random_bool(0.1) => Stay::Founded(between(r, day(2020, 1, 2), day(2021, 6, 30))),
            _ => Stay::Native,
        };
        let i = add(g, stay, industry);
        let d = match k {
            0 => END,
            1 => day(2022, 1, 1),
            _ => between(&mut g.r, day(2022, 1, 1), END),
        };
        g.firms[i].certs.push(d);
    }
    // Renewed in 2022 (four of them since 2016), and two re-certified after a lapse.
    for k in 0..40 {
        let industry = tech(&mut g.r);
        let i = add(g, Stay::Native, industry);
        let years: &[i32] = match k {
            0..4 => &[2016, 2019, 2022],
            38.. => &[2016, 2022],
            _ => &[2019, 2022],
        };
        g.founded_before(i, years[0]);
        let r = &mut g.r;
        for &y in years {
            let d = cert_date(r, y);
            g.firms[i].certs.push(d);
        }
    }
    // Holders since earlier years, renewed up to 2021; one certified on 2021-12-31.
    for k in 0..150 {
        let industry = tech(&mut g.r);
        let i = add(g, Stay::Native, industry);
        let r = &mut g.r;
        if k == 0 {
            g.firms[i].certs.push(day(2021, 12, 31));
            continue;
        }
        let mut y = r.random_range((g.firms[i].founded.y + 1).max(2015)..=2021);
        while y <= 2021 {
            g.firms[i].certs.push(cert_date(r, y));
            if !r.random_bool(0.75) {
                break;
            }
            y += 3;
        }
    }
    // First certified in 2022, then left before 2022-11-30: not new in the zone.
    for _ in 0..3 {
        let industry = tech(&mut g.r);
        let r = &mut g.r;
        let out = between(r, day(2022, 4, 1), day(2022, 11, 29));
        let to = elsewhere(r, GZ);
        let i = add(g, Stay::MovedOut(out, to), industry);
        let d = between(&mut g.r, day(2022, 1, 1), out);
        g.firms[i].certs.push(d);
    }
    // Movers: out in 2021 (heavy R&D, outside the 2021 set; one on 2021-12-31, still in),
    // in during 2021, in and out during 2022.
    for k in 0..50 {
        let industry = tech(&mut g.r);
        let r = &mut g.r;
        let (stay, heavy) = match k {
            0 => (Stay::MovedOut(day(2021, 12, 31), Some(CS)), false),
            1..15 => {
                let d = between(r, day(2021, 1, 10), day(2021, 11, 29));
                (Stay::MovedOut(d, elsewhere(r, GZ)), true)
            }
            15..35 => {
                let d = between(r, day(2021, 1, 5), day(2021, 11, 25));
                (Stay::MovedIn(d, elsewhere(r, GZ)), false)
            }
            35..45 => {
                let d = between(r, day(2022, 1, 5), day(2022, 11, 20));
                (Stay::MovedIn(d, elsewhere(r, GZ)), true)
            }
            _ => {
                let d = between(r, day(2022, 1, 10), day(2022, 11, 29));
                (Stay::MovedOut(d, elsewhere(r, GZ)), false)
            }
        };
        let i = add(g, stay, industry);
        if heavy {
            g.firms[i].rnd_rate = g.r.random_range(1500..=2500);
        }
    }
    // Everyone else: no certificates.
    for i in g.ordinary(GZ, 650, &MIX, 2.5e6, false) {
        if matches!(g.firms[i].industry, MFG | IT | SCI) {
            g.firms[i].rnd_rate = g.r.random_range(200..=1200);
        }
    }
}

/// Every firm's months: the primary figure's (calibrated or drawn), revenue from it.
struct Months {
    rev: [Option<i64>; MONTHS],
    sales: Option<[Option<i64>; MONTHS]>,
    va: Option<[Option<i64>; MONTHS]>,
}

impl Months {
    /// 营业收入 of `2020 + y` (a complete year): the sum of its months, None without any.
    fn year(&self, y: usize) -> Option<i64> {
        let ms = &self.rev[y * 12..y * 12 + 12];
        ms.iter()
            .any(Option::is_some)
            .then(|| ms.iter().flatten().sum())
    }
}

/// The primary figure month by month: January–November of 2020 and 2021 are their totals split
/// by season and noise (exactly), December and 2022 follow from them.
fn primary_months(r: &mut ChaCha8Rng, f: &ZFirm) -> [Option<i64>; MONTHS] {
    let first = f.first();
    let mut s = [None; MONTHS];
    let mut level = [0i64; 2];
    for (y, total) in [(0usize, f.b20), (1, f.v21)] {
        let ks: Vec<usize> = (y * 12..y * 12 + 11).filter(|&k| k >= first).collect();
        let w: Vec<u64> = ks
            .iter()
            .map(|&k| (SEASON[y][k % 12] * noise(r)) as u64)
            .collect();
        for (&k, a) in ks.iter().zip(alloc(total, &w)) {
            s[k] = Some(a);
        }
        level[y] = if ks.is_empty() {
            0
        } else {
            total / ks.len() as i64
        };
    }
    let or = |a: i64, b: i64| {
        if a > 0 {
            a
        } else if b > 0 {
            b
        } else {
            f.run.max(1)
        }
    };
    let lv = [or(level[0], level[1]), or(level[1], level[0])];
    for (y, &l) in lv.iter().enumerate() {
        let k = y * 12 + 11;
        if k >= first {
            s[k] = Some(muldiv(l, SEASON[y][11] * noise(r), 1_000_000));
        }
    }
    for k in 24..MONTHS {
        if k >= first {
            let prev = s[k - 12].unwrap_or(lv[1]);
            s[k] = Some(muldiv(prev, (1000 + f.growth22) * noise(r), 1_000_000));
        }
    }
    s
}

fn months(r: &mut ChaCha8Rng, f: &ZFirm) -> Months {
    let p = primary_months(r, f);
    let derive = |num: i64, den: i64| p.map(|x| x.map(|x| muldiv(x, num, den)));
    match f.primary {
        Primary::Rev => Months {
            rev: p,
            sales: None,
            va: None,
        },
        Primary::Sales(per) => Months {
            rev: derive(per, 1000),
            sales: Some(p),
            va: None,
        },
        Primary::Va(per) => Months {
            rev: derive(1000, per),
            sales: None,
            va: Some(p),
        },
    }
}

/// 广州高新区's 研发费用 of 2021 over the firms in the zone on 2021-12-31: 5.8% of their
/// revenue, shared by revenue × each firm's own rate.
fn calibrate_rnd(firms: &mut [ZFirm], months: &[Months]) {
    let members: Vec<usize> = (0..firms.len())
        .filter(|&i| firms[i].in_zone(GZ, day(2021, 12, 31)))
        .collect();
    let revenue: i64 = members.iter().filter_map(|&i| months[i].year(1)).sum();
    // Half up to the 元.
    let target = muldiv(revenue, 2 * seed::GZ_RND_PERMILLE, 1) + 1000;
    let target = target / 2000;
    let w: Vec<u64> = members
        .iter()
        .map(|&i| (months[i].year(1).unwrap_or(0) * firms[i].rnd_rate) as u64)
        .collect();
    for (&i, v) in members.iter().zip(alloc(target, &w)) {
        firms[i].rnd21 = Some(v);
    }
}

/// 分 written in 万元 with as many decimals as the amount needs.
fn wan(yuan: i64) -> F<'static> {
    let fen = yuan * 100;
    let dp = (0..=6u32)
        .find(|&dp| fen % 10i64.pow(6 - dp) == 0)
        .unwrap_or(6);
    F::Money(fen, Unit::Wan, dp, false)
}

fn opt_date(d: Option<Date>) -> String {
    d.map_or(String::new(), |d| d.to_string())
}

fn cell(s: &str) -> F<'_> {
    if s.is_empty() {
        F::Empty
    } else {
        F::T(s)
    }
}

/// The export files, in the order written.
const FILES: [(&str, &[&str]); 9] = [
    (
        "企业名录",
        &[
            "统一社会信用代码",
            "企业名称",
            "国民经济行业门类",
            "成立日期",
        ],
    ),
    (
        "园区_企业归属",
        &["统一社会信用代码", "园区", "迁入日期", "迁出日期"],
    ),
    (
        "产业链_标注",
        &["统一社会信用代码", "产业链", "标注日期", "移出日期"],
    ),
    (
        "统计_月度",
        &[
            "统一社会信用代码",
            "年度",
            "月份",
            "营业收入（万元）",
            "商品销售额（万元）",
            "工业增加值（万元）",
        ],
    ),
    (
        "统计_年度",
        &["统一社会信用代码", "统计年度", "规模以上企业"],
    ),
    (
        "税务_年度申报",
        &[
            "统一社会信用代码",
            "企业名称",
            "年度",
            "营业收入（万元）",
            "研发费用（万元）",
        ],
    ),
    (
        "科技_高新技术企业",
        &["统一社会信用代码", "证书编号", "发证日期", "有效期至"],
    ),
    (
        "经信_战新企业",
        &["统一社会信用代码", "认定日期", "移出日期"],
    ),
    ("金融办_上市进程", &["统一社会信用代码", "上市阶段", "日期"]),
];

/// The investment projects file (固定资产投资项目库, 发改).
const PROJECTS_FILE: (&str, &[&str]) = (
    "发改_固定资产投资项目",
    &[
        "项目代码",
        "项目名称",
        "所属园区",
        "建设单位统一社会信用代码",
        "年度",
        "月份",
        "本月完成投资（万元）",
    ],
);

/// Projects per zone and their investment completed in 1–11月 2022 and 1–11月 2021 (元). The seed
/// page publishes Huangpu's target (固投超2000亿元) but no actual: these totals are assumed, set so
/// that 广州高新区 stands a little behind 序时进度 (1786.40亿 of 2000亿 after 11 months: 89.3% against
/// 91.7%).
const PROJECT_ZONES: [(usize, usize, i64, i64); 4] = [
    (GZ, 240, 178_640_000_000, 159_812_000_000),
    (CD, 160, 98_025_000_000, 90_310_000_000),
    (NB, 110, 46_180_000_000, 40_550_000_000),
    (CS, 50, 12_006_000_000, 11_840_000_000),
];

/// Administrative division codes in the zones' project codes (广州黄埔、成都高新、宁波高新、长沙岳麓).
const PROJECT_AREAS: [&str; 4] = ["440112", "510109", "330201", "430104"];

const PROJECT_KINDS: [&str; 8] = [
    "智能制造产业园",
    "研发中心建设",
    "生产线技术改造",
    "总部大楼",
    "数据中心",
    "新材料生产基地",
    "生物医药产业化基地",
    "科技孵化器",
];

/// 固投 projects of the four zones, 2020-01 – 2022-11, one row per project and month with
/// investment; 1–11月 2021 and 2022 of each zone sum exactly to [`PROJECT_ZONES`]. Drawn from a
/// generator of their own, so the firms' files do not change with them.
fn write_projects(
    out_dir: &Path,
    seed: u64,
    xlsx: bool,
    firms: &[ZFirm],
) -> Result<(String, u64), Error> {
    let mut r = ChaCha8Rng::seed_from_u64(seed ^ 0x5052_4f4a_4543_5453);
    let mut sheet = Sheet::create(out_dir, PROJECTS_FILE.0, PROJECTS_FILE.1, xlsx)?;
    let mut serial = 0u32;
    for &(z, n, total22, total21) in &PROJECT_ZONES {
        // Builders: firms in the zone at some point.
        let members: Vec<&ZFirm> = firms
            .iter()
            .filter(|f| f.stints.iter().any(|s| s.value == z))
            .collect();
        // Each project: a start month (0 = 2020-01) and a duration; active months up to 2022-11.
        struct P {
            code: String,
            name: String,
            builder: Option<String>,
            months: Vec<usize>,
        }
        let mut ps = vec![];
        for _ in 0..n {
            serial += 1;
            let start = r.random_range(0..=33usize);
            let len = r.random_range(6..=30usize);
            let months: Vec<usize> = (start..(start + len).min(MONTHS)).collect();
            let year = 2020 + start / 12;
            let builder = (!members.is_empty() && r.random_bool(0.7))
                .then(|| members[r.random_range(0..members.len())]);
            let name = match builder {
                Some(f) => format!(
                    "{}{}项目",
                    f.name.trim_end_matches("有限公司").trim_end_matches("股份"),
                    pick(&mut r, &PROJECT_KINDS)
                ),
                None => format!(
                    "{}{}（政府投资）项目",
                    ZONES[z].trim_end_matches("高新区"),
                    pick(&mut r, &PROJECT_KINDS)
                ),
            };
            ps.push(P {
                code: format!(
                    "{year}-{}-{:02}-01-{serial:06}",
                    PROJECT_AREAS[z],
                    r.random_range(13..=75)
                ),
                name,
                builder: builder.map(|f| f.id.clone()),
                months,
            });
        }
        // Investment by month: the two calibrated windows split exactly, other months drawn.
        let window = |lo: usize, hi: usize| -> Vec<(usize, usize)> {
            ps.iter()
                .enumerate()
                .flat_map(|(i, p)| {
                    p.months
                        .iter()
                        .filter(move |&&k| (lo..=hi).contains(&k))
                        .map(move |&k| (i, k))
                })
                .collect()
        };
        let mut amount: std::collections::HashMap<(usize, usize), i64> = Default::default();
        for (lo, hi, total) in [(24, 34, total22), (12, 22, total21)] {
            let cells = window(lo, hi);
            let w = weights(
                &cells
                    .iter()
                    .map(|_| r.random_range(0.2..1.8f64))
                    .collect::<Vec<_>>(),
            );
            for (cell, a) in cells.into_iter().zip(alloc(total, &w)) {
                amount.insert(cell, a);
            }
        }
        // Months outside the windows (2020, December 2021) around the 2021 window's average.
        let per_month = total21 / (window(12, 22).len() as i64).max(1);
        for (i, p) in ps.iter().enumerate() {
            for &k in &p.months {
                let a = *amount
                    .entry((i, k))
                    .or_insert_with(|| (per_month as f64 * r.random_range(0.3..1.7)) as i64);
                let (y, mo) = ((2020 + k / 12).to_string(), (k % 12 + 1).to_string());
                let builder = p.builder.as_deref().unwrap_or("");
                sheet.row(&[
                    F::T(&p.code),
                    F::T(&p.name),
                    F::T(ZONES[z]),
                    if builder.is_empty() {
                        F::Empty
                    } else {
                        F::T(builder)
                    },
                    F::T(&y),
                    F::T(&mo),
                    wan(a),
                ])?;
            }
        }
    }
    sheet.finish(out_dir)
}

/// Writes every row of one firm.
fn write_firm(sh: &mut [Sheet], r: &mut ChaCha8Rng, f: &ZFirm, m: &Months) -> Result<(), Error> {
    let founded = f.founded.to_string();
    sh[0].row(&[
        F::T(&f.id),
        F::T(&f.name),
        F::T(INDUSTRIES[f.industry]),
        F::T(&founded),
    ])?;
    for s in &f.stints {
        let (from, until) = (s.from.to_string(), opt_date(s.until));
        sh[1].row(&[F::T(&f.id), F::T(ZONES[s.value]), F::T(&from), cell(&until)])?;
    }
    for s in &f.chains {
        let (from, until) = (s.from.to_string(), opt_date(s.until));
        sh[2].row(&[
            F::T(&f.id),
            F::T(CHAINS[s.value]),
            F::T(&from),
            cell(&until),
        ])?;
    }
    for k in f.first()..MONTHS {
        let (y, mo) = ((2020 + k / 12).to_string(), (k % 12 + 1).to_string());
        let at = |s: &Option<[Option<i64>; MONTHS]>| s.and_then(|s| s[k]).map_or(F::Empty, wan);
        sh[3].row(&[
            F::T(&f.id),
            F::T(&y),
            F::T(&mo),
            m.rev[k].map_or(F::Empty, wan),
            at(&m.sales),
            at(&m.va),
        ])?;
    }
    for (y, &s) in f.scale.iter().enumerate() {
        if f.first() < 12 * (y + 1) {
            let ys = (2020 + y).to_string();
            sh[4].row(&[F::T(&f.id), F::T(&ys), F::T(if s { "是" } else { "否" })])?;
        }
    }
    for y in 0..2 {
        if let Some(rev) = m.year(y) {
            let rnd = match (y, f.rnd21) {
                (1, Some(v)) => v,
                _ => muldiv(rev, f.rnd_rate, 10_000),
            };
            let ys = (2020 + y).to_string();
            sh[5].row(&[F::T(&f.id), F::T(&f.name), F::T(&ys), wan(rev), wan(rnd)])?;
        }
    }
    // 2022's annual return, as filed after the year closed (the monthly data end in November):
    // January–November, and December at November's level. What the 瞪羚 selection of 2022
    // reads (the policy takes effect that year).
    if let Some(nov) = m.rev[MONTHS - 1] {
        let rev: i64 = m.rev[24..MONTHS].iter().flatten().sum::<i64>() + nov;
        let rnd = muldiv(rev, f.rnd_rate, 10_000);
        sh[5].row(&[F::T(&f.id), F::T(&f.name), F::T("2022"), wan(rev), wan(rnd)])?;
    }
    for &d in &f.certs {
        let no = format!(
            "GR{}{}{:06}",
            d.y,
            PLACES[f.zone].province,
            r.random_range(0..1_000_000)
        );
        let (from, until) = (d.to_string(), validity_end(d, 3).to_string());
        sh[6].row(&[F::T(&f.id), F::T(&no), F::T(&from), F::T(&until)])?;
    }
    for s in &f.strategic {
        let (from, until) = (s.from.to_string(), opt_date(s.until));
        sh[7].row(&[F::T(&f.id), F::T(&from), cell(&until)])?;
    }
    for &(stage, d) in &f.listing {
        let at = d.to_string();
        sh[8].row(&[F::T(&f.id), F::T(super::STAGES[stage]), F::T(&at)])?;
    }
    Ok(())
}

/// Listings are rare: five firms of 广州 list in 2022, one of 宁波 in 2021 and two of 长沙 in 2022
/// (after their 辅导期 and 材料受理) — the small cells a page hides outside the officer's role.
/// The firms are the first of each zone (in generation order) founded before 2020 and in the zone
/// from 2020 to 2022-11-30; no random draw is taken, so every other row is unchanged.
fn plant_listings(firms: &mut [ZFirm]) {
    /// A firm's records: (stage, (year, month, day)).
    type Records = &'static [(usize, (i32, u32, u32))];
    let plan: [(usize, &[Records]); 3] = [
        (
            GZ,
            &[
                &[(1, (2021, 3, 8)), (3, (2022, 2, 15))],
                &[(3, (2022, 4, 15))],
                &[(2, (2021, 9, 1)), (3, (2022, 6, 15))],
                &[(3, (2022, 8, 15))],
                &[(3, (2022, 10, 14))],
            ],
        ),
        (NB, &[&[(1, (2020, 6, 1)), (3, (2021, 7, 8))]]),
        (
            CS,
            &[
                &[(1, (2020, 5, 11)), (2, (2021, 4, 2)), (3, (2022, 6, 16))],
                &[(1, (2021, 3, 1)), (3, (2022, 9, 28))],
            ],
        ),
    ];
    for (zone, firms_plan) in plan {
        let stays = |f: &ZFirm| {
            f.zone == zone
                && f.founded < day(2020, 1, 1)
                && f.in_zone(zone, day(2020, 1, 1))
                && f.in_zone(zone, day(2022, 11, 30))
        };
        let picked: Vec<usize> = (0..firms.len())
            .filter(|&i| stays(&firms[i]))
            .take(firms_plan.len())
            .collect();
        for (&i, recs) in picked.iter().zip(firms_plan) {
            firms[i].listing = recs
                .iter()
                .map(|&(st, (y, m, d))| (st, day(y, m, d)))
                .collect();
        }
    }
}

/// Writes the seed page's four zones into `out_dir`: the departments' exports as CSV (and XLSX
/// copies when `xlsx`) and `mapping.toml` (and `mapping-xlsx.toml`) for the seed pack
/// (policies/ningbo). About 4,600 firms, months 2020-01 to 2022-11, complete years 2020 and 2021,
/// 2022's annual return (January–November and December at November's level, as filed after the
/// year), and 固投 projects ([`PROJECT_ZONES`]).
///
/// Whatever the seed, the data give exactly (1–11月 2021 against 1–11月 2020, 同口径 growth,
/// sets as of 2021-11-30 unless said):
///
/// | zone | set | firms | value | growth |
/// |---|---|---|---|---|
/// | 成都高新区 | 行业 = 信息技术服务业 (月度营业收入) | | 2056.4亿元 | +46.9% |
/// | | … ∧ 规上企业 | 434 | 1145.8亿元 | |
/// | | … ∧ 产业链 = 大数据和网络安全 | 159 | 273.44亿元 | +61.1% |
/// | | … ∧ 产业链 = 数字文创 | 137 | 550.3亿元 | +19.2% |
/// | | … ∧ 产业链 = 新一代通信与人工智能 | 119 | 221亿元 | +40% |
/// | 宁波高新区 | 规上 ∧ 行业 ∈ {信息技术服务业, 科学研究和技术服务业, 其他} (月度营业收入) | | 201亿元 | +22.2% |
/// | | 规上 ∧ 批发零售业 (月度商品销售额) | | 1940亿元 | +30% |
/// | | 规上 ∧ 制造业 (工业增加值) | | 71.68亿元 | |
/// | | … ∧ 战新企业 | | 58.42亿元 (81.5%) | |
/// | 广州高新区 | first 高企证书 in 1–11月 2022, in the zone on 2022-11-30 | 87 | | |
/// | | 研发费用 ÷ 营业收入, 2021, in the zone on 2021-12-31 | | 5.8% | |
///
/// 长沙高新区 holds a few hundred ordinary firms. Credit codes are those of [`super::credit_code`]
/// under a seed shifted away from `generate`'s, in each zone's region.
pub fn generate_seed_zones(out_dir: &Path, seed: u64, xlsx: bool) -> Result<GenStats, Error> {
    let mut g = Gen::new(seed);
    chengdu(&mut g);
    ningbo(&mut g);
    guangzhou(&mut g);
    g.ordinary(CS, 350, &MIX, 2.5e6, true);
    for f in g.firms.iter_mut().filter(|f| !f.calibrated) {
        f.run = f.size.round().max(1.0) as i64;
        f.v21 = f.run * f.jan_nov(1);
        f.b20 = muldiv(f.run * f.jan_nov(0), 1000, 1000 + f.growth);
    }
    let Gen {
        mut r, mut firms, ..
    } = g;
    let months: Vec<Months> = firms.iter().map(|f| months(&mut r, f)).collect();
    calibrate_rnd(&mut firms, &months);
    plant_listings(&mut firms);

    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let mut sheets = FILES
        .iter()
        .map(|(name, header)| Sheet::create(out_dir, name, header, xlsx))
        .collect::<Result<Vec<_>, _>>()?;
    for (f, m) in firms.iter().zip(&months) {
        write_firm(&mut sheets, &mut r, f, m)?;
    }
    let mut stats = GenStats::default();
    for s in sheets {
        stats.files.push(s.finish(out_dir)?);
    }
    stats
        .files
        .push(write_projects(out_dir, seed, xlsx, &firms)?);
    let n = firms.len();
    let head = format!(
        "# 由 huiqi 生成：种子页四个高新区（广州、成都、宁波、长沙）{n} 家模拟企业 2020年1月–2022年11月的数据，\n\
         # 按种子页公布的数字校准（种子 {seed}）。\n\
         # Generated by huiqi: the seed page's four zones, {n} firms, 2020-01 – 2022-11, calibrated to\n\
         # its published figures (seed {seed}).\n\
         # huiqi ingest --policy policies/ningbo --mapping <this file> --snapshots var/snapshots\n"
    );
    let write_mapping = |name: &str, ext: &str| {
        let p = out_dir.join(name);
        std::fs::write(&p, format!("{head}{}", mapping_text(ext))).map_err(|e| Error::io(&p, e))
    };
    write_mapping("mapping.toml", "csv")?;
    if xlsx {
        write_mapping("mapping-xlsx.toml", "xlsx")?;
    }
    Ok(stats)
}

fn mapping_text(ext: &str) -> String {
    format!(
        r#"
[firms]                                   # 市场监管：企业名录
file = "企业名录.{ext}"
id = "统一社会信用代码"
name = "企业名称"
facts = {{ "行业" = "国民经济行业门类" }}

[[yearly]]                                # 税务：年度申报（万元；完整年度）
file = "税务_年度申报.{ext}"
id = "统一社会信用代码"
year = "年度"
unit = "万元"
facts = {{ "营业收入" = "营业收入（万元）", "研发费用" = "研发费用（万元）" }}

[[yearly]]                                # 统计：规模以上企业名录（含限额以上批零）
file = "统计_年度.{ext}"
id = "统一社会信用代码"
year = "统计年度"
bools = "是/否"
facts = {{ "规上企业" = "规模以上企业" }}

[[monthly]]                               # 统计：月报（当月，万元）
file = "统计_月度.{ext}"
id = "统一社会信用代码"
year = "年度"
month = "月份"
unit = "万元"
facts = {{ "月度营业收入" = "营业收入（万元）", "月度商品销售额" = "商品销售额（万元）", "工业增加值" = "工业增加值（万元）" }}

[[events]]                                # 园区：企业归属（迁入日至迁出日）
file = "园区_企业归属.{ext}"
fact = "所属园区"
id = "统一社会信用代码"
date = "迁入日期"
until = "迁出日期"
value = "园区"

[[events]]                                # 发改：产业链标注（标注日至移出日）
file = "产业链_标注.{ext}"
fact = "产业链"
id = "统一社会信用代码"
date = "标注日期"
until = "移出日期"
value = "产业链"

[[events]]                                # 科技：高新技术企业证书
file = "科技_高新技术企业.{ext}"
fact = "高企证书"
id = "统一社会信用代码"
date = "发证日期"
until = "有效期至"

[[events]]                                # 经信：战略性新兴产业（制造业）企业
file = "经信_战新企业.{ext}"
fact = "战新企业"
id = "统一社会信用代码"
date = "认定日期"
until = "移出日期"

[[events]]                                # 金融办：上市进程节点
file = "金融办_上市进程.{ext}"
fact = "上市进程"
id = "统一社会信用代码"
date = "日期"
value = "上市阶段"

[[projects]]                              # 发改：固定资产投资项目库（当月完成投资，万元）
file = "发改_固定资产投资项目.{ext}"
id = "项目代码"
name = "项目名称"
zone = "所属园区"
zone_fact = "所属园区"
firm = "建设单位统一社会信用代码"
year = "年度"
month = "月份"
investment = "本月完成投资（万元）"
unit = "万元"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_exact() {
        assert_eq!(alloc(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(alloc(7, &[0, 0]), vec![7, 0]);
        let w = weights(&[0.3, 1e-9, 2.5, 7.0]);
        for total in [0, 1, 999, 20_564_000_000_000] {
            assert_eq!(alloc(total, &w).iter().sum::<i64>(), total);
        }
        assert_eq!(base_for(100, 250), 80);
        let (v, g) = seed::CD_SOFTWARE;
        assert_eq!(v, 205_640_000_000);
        assert_eq!(base_for(v, g), 139_986_385_296);
    }

    #[test]
    fn amounts_in_wan() {
        let mut s = String::new();
        let F::Money(fen, unit, dp, g) = wan(1_234_500) else {
            panic!()
        };
        super::super::fmt_money(&mut s, fen, unit, dp, g);
        assert_eq!(s, "123.45");
        let F::Money(fen, unit, dp, g) = wan(7) else {
            panic!()
        };
        super::super::fmt_money(&mut s, fen, unit, dp, g);
        assert_eq!(s, "0.0007");
    }
}

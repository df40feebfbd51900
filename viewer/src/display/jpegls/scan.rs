//! One JPEG-LS scan's entropy-coded data (T.87 annex A, decoding as CharLS does): the
//! context-modelled regular mode, run mode and run interruption, for one component, several
//! components by line (ILV 1) or several by sample (ILV 2).

/// Run lengths' order by run index (T.87 A.7.1.1, table A.2).
const J: [u32; 32] =
    [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// The coding parameters of a scan: MAXVAL, NEAR and the preset thresholds (T.87 C.2.4.1.1),
/// already checked and with defaults applied.
#[derive(Clone, Copy, Debug)]
pub(super) struct Coding {
    pub maxval: i32,
    pub near: i32,
    pub t1: i32,
    pub t2: i32,
    pub t3: i32,
    pub reset: i32,
}

/// How a scan orders its components' samples (the SOS segment's ILV).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Interleave {
    /// One component a scan.
    None,
    /// A line of each component in turn.
    Line,
    /// Each pixel's samples together.
    Sample,
}

/// Bits of the scan data, with the zero bit stuffed after every 0xFF byte taken out.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// Unread bits, most significant first.
    acc: u64,
    count: u32,
    after_ff: bool,
}

impl Bits<'_> {
    fn fill(&mut self) {
        while self.count <= 56 {
            let Some(&byte) = self.data.get(self.pos) else { return };
            if self.after_ff {
                if byte & 0x80 != 0 {
                    return; // a marker: the scan data ends
                }
                self.acc |= u64::from(byte) << (57 - self.count);
                self.count += 7;
            } else {
                self.acc |= u64::from(byte) << (56 - self.count);
                self.count += 8;
            }
            self.after_ff = byte == 0xFF;
            self.pos += 1;
        }
    }

    fn read(&mut self, n: u32) -> Result<i64, String> {
        if n == 0 {
            return Ok(0);
        }
        if n > 32 {
            return Err(format!("a {n}-bit field in the scan data"));
        }
        if self.count < n {
            self.fill();
            if self.count < n {
                return Err("the scan data ends early".into());
            }
        }
        let value = self.acc >> (64 - n);
        self.acc <<= n;
        self.count -= n;
        Ok(value as i64)
    }

    /// The number of 0 bits before the next 1 bit (which is consumed), at most `max`.
    fn zeros(&mut self, max: u32) -> Result<u32, String> {
        let mut total = 0;
        loop {
            if self.count == 0 {
                self.fill();
                if self.count == 0 {
                    return Err("the scan data ends early".into());
                }
            }
            let lz = self.acc.leading_zeros().min(self.count);
            total += lz;
            if total > max {
                return Err("a code longer than the limit in the scan data".into());
            }
            if lz < self.count {
                self.acc <<= lz + 1;
                self.count -= lz + 1;
                return Ok(total);
            }
            self.acc = 0;
            self.count = 0;
        }
    }
}

/// A regular-mode context (T.87 A.2.2): A, B, C, N.
#[derive(Clone, Copy)]
struct Context {
    a: i64,
    b: i64,
    c: i32,
    n: i64,
}

/// A run-interruption context (T.87 A.7.2): A, N, Nn and RItype.
#[derive(Clone, Copy)]
struct RunContext {
    a: i64,
    n: i64,
    nn: i64,
    ri_type: i64,
}

/// The decoder of one scan.
pub(super) struct Scan<'a> {
    bits: Bits<'a>,
    coding: Coding,
    range: i32,
    qbpp: u32,
    limit: u32,
    contexts: Vec<Context>,
    runs: [RunContext; 2],
}

impl<'a> Scan<'a> {
    /// A decoder of `data` (the entropy-coded segment after the SOS header).
    pub(super) fn new(data: &'a [u8], coding: Coding) -> Self {
        let Coding { maxval, near, .. } = coding;
        let range = (maxval + 2 * near) / (2 * near + 1) + 1;
        let qbpp = ceil_log2(range);
        let bpp = ceil_log2(maxval + 1).max(2);
        let limit = 2 * (bpp + bpp.max(8));
        let a = i64::from(((range + 32) / 64).max(2));
        Scan {
            bits: Bits { data, pos: 0, acc: 0, count: 0, after_ff: false },
            coding,
            range,
            qbpp,
            limit,
            contexts: vec![Context { a, b: 0, c: 0, n: 1 }; 365],
            runs: [0, 1].map(|ri_type| RunContext { a, n: 1, nn: 0, ri_type }),
        }
    }

    /// Decodes the scan into `out` (`width` x `height` pixels of `stride` samples each),
    /// component `comps[i]` of the scan going to sample `comps[i]` of each pixel.
    pub(super) fn decode(
        &mut self,
        ilv: Interleave,
        width: usize,
        height: usize,
        comps: &[usize],
        stride: usize,
        out: &mut [u16],
    ) -> Result<(), String> {
        // Each line has one sample of padding at each end (T.87 A.2.1's edges).
        let nc = if ilv == Interleave::Sample { comps.len() } else { 1 };
        let lines = if ilv == Interleave::Sample { 1 } else { comps.len() };
        let len = (width + 2) * nc;
        let mut prev = vec![vec![0i32; len]; lines];
        let mut cur = vec![vec![0i32; len]; lines];
        let mut run_index = vec![0usize; lines];
        for y in 0..height {
            for l in 0..lines {
                let (p, c) = (&mut prev[l], &mut cur[l]);
                p.copy_within(width * nc..(width + 1) * nc, (width + 1) * nc);
                c[..nc].copy_from_slice(&p[nc..2 * nc]);
                if nc == 1 {
                    self.line(p, c, &mut run_index[l])?;
                } else {
                    self.sample_line(p, c, nc, &mut run_index[l])?;
                }
            }
            for (l, line) in cur.iter().enumerate() {
                for (i, &v) in line[nc..(width + 1) * nc].iter().enumerate() {
                    let (x, s) = (i / nc, if nc == 1 { comps[l] } else { comps[i % nc] });
                    out[(y * width + x) * stride + s] = v as u16;
                }
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        Ok(())
    }

    /// One line of one component.
    fn line(&mut self, prev: &[i32], cur: &mut [i32], ri: &mut usize) -> Result<(), String> {
        let w = cur.len() - 2;
        let mut x = 1;
        while x <= w {
            let (ra, rb, rc, rd) = (cur[x - 1], prev[x], prev[x - 1], prev[x + 1]);
            let qs = self.context_id(rd - rb, rb - rc, rc - ra);
            if qs != 0 {
                cur[x] = self.regular(qs, predict(ra, rb, rc))?;
                x += 1;
                continue;
            }
            let run = self.run(w + 1 - x, ri)?;
            cur[x..x + run].fill(ra);
            x += run;
            if x <= w {
                let rb = prev[x];
                cur[x] = if (ra - rb).abs() <= self.coding.near {
                    let err = self.interruption(1, *ri)?;
                    self.reconstruct(ra, err)
                } else {
                    let err = self.interruption(0, *ri)?;
                    self.reconstruct(rb, err * sign(rb - ra))
                };
                *ri = ri.saturating_sub(1);
                x += 1;
            }
        }
        Ok(())
    }

    /// One line of pixels whose `nc` samples are coded together (ILV 2): run mode only when
    /// every sample's gradients are flat.
    fn sample_line(&mut self, prev: &[i32], cur: &mut [i32], nc: usize, ri: &mut usize) -> Result<(), String> {
        let w = cur.len() / nc - 2;
        let mut x = 1;
        let mut qs = [0i32; 4];
        while x <= w {
            for (s, q) in qs.iter_mut().enumerate().take(nc) {
                let at = |line: &[i32], x: usize| line[x * nc + s];
                let (ra, rb, rc, rd) = (at(cur, x - 1), at(prev, x), at(prev, x - 1), at(prev, x + 1));
                *q = self.context_id(rd - rb, rb - rc, rc - ra);
            }
            if qs[..nc].iter().any(|&q| q != 0) {
                for s in 0..nc {
                    let (ra, rb, rc) = (cur[(x - 1) * nc + s], prev[x * nc + s], prev[(x - 1) * nc + s]);
                    cur[x * nc + s] = self.regular(qs[s], predict(ra, rb, rc))?;
                }
                x += 1;
                continue;
            }
            let start = x;
            let run = self.run(w + 1 - x, ri)?;
            for i in x..x + run {
                cur.copy_within((start - 1) * nc..start * nc, i * nc);
            }
            x += run;
            if x <= w {
                for s in 0..nc {
                    let (ra, rb) = (cur[(start - 1) * nc + s], prev[x * nc + s]);
                    let err = self.interruption(0, *ri)?;
                    cur[x * nc + s] = self.reconstruct(rb, err * sign(rb - ra));
                }
                *ri = ri.saturating_sub(1);
                x += 1;
            }
        }
        Ok(())
    }

    /// The signed context number of three gradients (T.87 A.3.3, A.3.4).
    fn context_id(&self, d1: i32, d2: i32, d3: i32) -> i32 {
        (self.quantize(d1) * 9 + self.quantize(d2)) * 9 + self.quantize(d3)
    }

    fn quantize(&self, d: i32) -> i32 {
        let Coding { near, t1, t2, t3, .. } = self.coding;
        match d {
            _ if d <= -t3 => -4,
            _ if d <= -t2 => -3,
            _ if d <= -t1 => -2,
            _ if d < -near => -1,
            _ if d <= near => 0,
            _ if d < t1 => 1,
            _ if d < t2 => 2,
            _ if d < t3 => 3,
            _ => 4,
        }
    }

    /// A sample in regular mode (T.87 A.4 to A.6).
    fn regular(&mut self, qs: i32, predicted: i32) -> Result<i32, String> {
        let sign = sign(qs);
        let q = qs.unsigned_abs() as usize;
        let Context { a, b, c, n } = self.contexts[q];
        let k = golomb_k(n, a)?;
        let px = (predicted + sign * c).clamp(0, self.coding.maxval);
        let mapped = self.value(k, self.limit)?;
        // Inverse of the error mapping (A.5.2).
        let mut err = if mapped & 1 == 1 { -((mapped + 1) >> 1) } else { mapped >> 1 };
        if k == 0 && self.coding.near == 0 && 2 * b + n - 1 < 0 {
            err = -(err + 1);
        }
        if err.abs() > 65535 {
            return Err("a prediction error out of range in the scan data".into());
        }
        self.update(q, err);
        Ok(self.reconstruct(px, sign * err))
    }

    /// A.6.1 and A.6.2: the context's statistics and bias correction after a sample.
    fn update(&mut self, q: usize, err: i32) {
        let Coding { near, reset, .. } = self.coding;
        let ctx = &mut self.contexts[q];
        ctx.a += i64::from(err.abs());
        ctx.b += i64::from(err) * i64::from(2 * near + 1);
        if ctx.n == i64::from(reset) {
            ctx.a >>= 1;
            ctx.b >>= 1;
            ctx.n >>= 1;
        }
        ctx.n += 1;
        if ctx.b + ctx.n <= 0 {
            ctx.b = (ctx.b + ctx.n).max(-ctx.n + 1);
            ctx.c = (ctx.c - 1).max(-128);
        } else if ctx.b > 0 {
            ctx.b = (ctx.b - ctx.n).min(0);
            ctx.c = (ctx.c + 1).min(127);
        }
    }

    /// A Golomb-coded value of parameter `k` with escape length `limit` (A.5.3).
    fn value(&mut self, k: u32, limit: u32) -> Result<i32, String> {
        let escape = limit.saturating_sub(self.qbpp + 1);
        let high = self.bits.zeros(escape)?;
        let value =
            if high >= escape { self.bits.read(self.qbpp)? + 1 } else { (i64::from(high) << k) + self.bits.read(k)? };
        i32::try_from(value).ok().filter(|v| *v < 1 << 18).ok_or_else(|| "a code out of range in the scan data".into())
    }

    /// The length of a run of samples equal to the one before it, at most `left` (A.7.1).
    fn run(&mut self, left: usize, ri: &mut usize) -> Result<usize, String> {
        let mut count = 0;
        while self.bits.read(1)? == 1 {
            let step = 1usize << J[*ri];
            let take = step.min(left - count);
            count += take;
            if take == step {
                *ri = (*ri + 1).min(31);
            }
            if count == left {
                return Ok(count);
            }
        }
        count += self.bits.read(J[*ri])? as usize;
        if count > left {
            return Err("a run past the end of the line in the scan data".into());
        }
        Ok(count)
    }

    /// The error of a run-interruption sample, in run context `t` (A.7.2).
    fn interruption(&mut self, t: usize, ri: usize) -> Result<i32, String> {
        let RunContext { a, n, nn, ri_type } = self.runs[t];
        let temp = a + (n >> 1) * ri_type;
        let k = (0..=32u32).find(|&k| n << k >= temp).ok_or("a run context out of range in the scan data")?;
        let mapped = self.value(k, self.limit - J[ri] - 1)?;
        let t_map = i64::from(mapped) + ri_type;
        let map = t_map & 1 == 1;
        let abs = (t_map + i64::from(map)) / 2;
        let err = if (k != 0 || 2 * nn >= n) == map { -abs } else { abs };
        let ctx = &mut self.runs[t];
        if err < 0 {
            ctx.nn += 1;
        }
        ctx.a += (i64::from(mapped) + 1 - ri_type) >> 1;
        if ctx.n == i64::from(self.coding.reset) {
            ctx.a >>= 1;
            ctx.n >>= 1;
            ctx.nn >>= 1;
        }
        ctx.n += 1;
        Ok(err as i32)
    }

    /// The sample from its prediction and quantized error (A.4.4, modulo reduction A.4.5).
    fn reconstruct(&self, px: i32, err: i32) -> i32 {
        let Coding { maxval, near, .. } = self.coding;
        let step = 2 * near + 1;
        let mut v = px + err * step;
        if v < -near {
            v += self.range * step;
        } else if v > maxval + near {
            v -= self.range * step;
        }
        v.clamp(0, maxval)
    }
}

/// The median edge detector (T.87 A.4.1).
fn predict(ra: i32, rb: i32, rc: i32) -> i32 {
    if rc >= ra.max(rb) {
        ra.min(rb)
    } else if rc <= ra.min(rb) {
        ra.max(rb)
    } else {
        ra + rb - rc
    }
}

fn sign(v: i32) -> i32 {
    if v < 0 {
        -1
    } else {
        1
    }
}

/// The Golomb parameter of a regular context (A.5.1).
fn golomb_k(n: i64, a: i64) -> Result<u32, String> {
    (0..=32u32).find(|&k| n << k >= a).ok_or_else(|| "a context out of range in the scan data".into())
}

fn ceil_log2(v: i32) -> u32 {
    (0..31).find(|&b| 1i64 << b >= i64::from(v)).unwrap_or(31)
}

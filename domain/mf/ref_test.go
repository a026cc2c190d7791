package mf

// The update and the ranking as they were before the CG budget, the fused
// residual and the scan copy: the baselines of the benchmarks and the
// references of the tests.

// refUpdate is Update as it was: the history weight looked up again, the
// right-hand side and the first residual in separate passes, CGSteps full
// steps on every history (the last one computing A d too).
func refUpdate(m *Model, u, i int32, c float32) {
	m.events++
	m.remember(u, i, c)
	var w float32
	for _, e := range m.hist[u] {
		if e.item == i {
			w = e.w
		}
	}
	refSolve(m, u)
	p := m.UserVector(u)
	pp := dot32(p, p) + 1
	m.itemStep(i, p, pp, w, 1)
	for n := 0; n < m.cfg.Negatives; n++ {
		if j, ok := m.sampleNegative(u, i); ok {
			m.itemStep(j, p, dot32(p, p)+1, float32(m.cfg.NegWeight), 0)
		}
	}
	m.count[i]++
	if len(m.ring) < m.cfg.SampleWindow {
		m.ring = append(m.ring, i)
	} else {
		m.ring[m.ringPos] = i
		m.ringPos = (m.ringPos + 1) % len(m.ring)
	}
	m.sinceGram++
	if m.sinceGram >= max(256, len(m.itemIDs)) {
		m.RefreshGram()
	}
}

// refSolve is the learner solve as it was (CGSteps steps, no budget).
func refSolve(m *Model, u int32) {
	h := m.hist[u]
	x := m.UserVector(u)
	b := m.rhs(h)
	r, d, ad := m.r, m.d, m.ad
	m.mulA(h, x, ad)
	for f := range r {
		r[f] = b[f] - ad[f]
	}
	copy(d, r)
	rs := dot32(r, r)
	for it := 0; it < m.cfg.CGSteps; it++ {
		if rs < 1e-12 {
			return
		}
		m.mulA(h, d, ad)
		dad := dot32(d, ad)
		if !(dad > 0) {
			return
		}
		alpha := rs / dad
		axpy32(alpha, d, x)
		axpy32(-alpha, ad, r)
		rsNew := dot32(r, r)
		beta := rsNew / rs
		rs = rsNew
		for f := range d {
			d[f] = r[f] + beta*d[f]
		}
	}
}

// refTopN is TopN as it was: one dot product per item over the row-major
// factors into a scores array, then the bounded insertion.
func refTopN(m *Model, u int32, n int, exclude []int32, dst []Scored) []Scored {
	dst = dst[:0]
	if n <= 0 || len(m.hist[u]) == 0 {
		return dst
	}
	m.setMask(exclude)
	items := len(m.itemIDs)
	if cap(refScores) < items {
		refScores = make([]float32, items)
	}
	scores := refScores[:items]
	gemv32(m.V, items, m.UserVector(u), scores)
	for j, s := range scores {
		if m.mask[j>>6]&(1<<(uint(j)&63)) != 0 {
			continue
		}
		s += m.B[j]
		if len(dst) < n || s > dst[n-1].Score {
			dst = pushTop(dst, n, Scored{Item: int32(j), Score: s})
		}
	}
	m.clearMask(exclude)
	return dst
}

var refScores []float32

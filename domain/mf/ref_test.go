package mf

// The update as it was before the CG budget and the fused residual: the
// baseline of the benchmarks and the reference of the tests.

// refUpdate is Update as it was (ALS): the history weight looked up again, the
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
	every := m.cfg.GramEvery
	if every == 0 {
		every = max(256, len(m.itemIDs))
	}
	if m.sinceGram >= every {
		m.RefreshGram()
	}
}

// refSolve is the learner solve as it was (CGSteps steps, no budget).
func refSolve(m *Model, u int32) {
	if m.gramItems < len(m.itemIDs) && m.gramItems < 64 {
		m.RefreshGram()
	}
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

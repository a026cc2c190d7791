package mf

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Content snapshot format: "LSCF", a version byte, the configuration, the
// feature vocabulary (names), the items (id and feature indices), and a
// CRC-32 (IEEE) of everything before it. Document frequencies, postings,
// weights and the mapping to a model's items are derived on restore.
const (
	contentMagic   = "LSCF"
	contentVersion = 1
)

// MarshalBinary returns a snapshot of the scorer: its configuration, the
// vocabulary and every item's features.
func (c *Content) MarshalBinary() ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 64+len(c.featIDs)*16+len(c.itemIDs)*24)}
	e.b = append(e.b, contentMagic...)
	e.u8(contentVersion)
	e.f64(c.cfg.Weight)
	e.f64(c.cfg.Shrink)
	e.f64(c.cfg.Recency)
	e.uv(uint64(c.cfg.Profile))
	e.f64(c.cfg.MinSimilarity)
	e.uv(uint64(len(c.featIDs)))
	for _, f := range c.featIDs {
		e.str(f)
	}
	e.uv(uint64(len(c.itemIDs)))
	for i, id := range c.itemIDs {
		e.str(id)
		e.uv(uint64(len(c.feats[i])))
		for _, f := range c.feats[i] {
			e.uv(uint64(f))
		}
	}
	e.u32(crc32.ChecksumIEEE(e.b))
	return e.b, nil
}

// UnmarshalBinary replaces the scorer with a snapshot made by
// MarshalBinary. A corrupt, truncated or unknown-version snapshot is
// rejected with an error wrapping ErrSnapshot, and the scorer is left
// unchanged.
func (c *Content) UnmarshalBinary(data []byte) error {
	if len(data) < len(contentMagic)+1+4 || string(data[:4]) != contentMagic {
		return fmt.Errorf("%w: not a content snapshot", ErrSnapshot)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("%w: content checksum mismatch", ErrSnapshot)
	}
	d := &decoder{b: body[4:]}
	if v := d.u8(); v != contentVersion {
		return fmt.Errorf("%w: content version %d, want %d", ErrSnapshot, v, contentVersion)
	}
	var cfg ContentConfig
	cfg.Weight = d.f64()
	cfg.Shrink = d.f64()
	cfg.Recency = d.f64()
	cfg.Profile = int(d.uv())
	cfg.MinSimilarity = d.f64()
	if d.err != nil {
		return d.err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	n := &Content{cfg: cfg, featIdx: map[string]int32{}, itemIdx: map[string]int32{}}
	nf := d.count(1)
	names := make([]string, 0, nf)
	for range nf {
		name := d.str()
		if d.err != nil {
			return d.err
		}
		if _, dup := n.featIdx[name]; dup || name == "" {
			return fmt.Errorf("%w: content feature %q empty or repeated", ErrSnapshot, name)
		}
		n.addFeature(name)
		names = append(names, name)
	}
	ni := d.count(1)
	for range ni {
		id := d.str()
		k := d.count(1)
		fs := make([]string, 0, k)
		for range k {
			f := d.uv()
			if d.err == nil && f >= uint64(nf) {
				d.fail("content item %q: feature %d out of range", id, f)
			}
			if d.err != nil {
				return d.err
			}
			fs = append(fs, names[f])
		}
		if d.err != nil {
			return d.err
		}
		if _, dup := n.itemIdx[id]; dup || id == "" {
			return fmt.Errorf("%w: content item %q empty or repeated", ErrSnapshot, id)
		}
		n.addItem(id)
		n.SetItem(id, fs)
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes in content snapshot", ErrSnapshot, len(d.b))
	}
	*c = *n
	return nil
}

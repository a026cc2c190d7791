package content

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is one XML element with the line it starts on, so that every problem
// found while interpreting a manifest can name the element and the line.
type node struct {
	name     xml.Name
	attrs    []xml.Attr
	children []*node
	text     strings.Builder
	line     int
}

// maxDepth bounds element nesting: manifests are shallow, and a deep one is
// an attack on the parser, not content.
const maxDepth = 64

// maxElements bounds the elements of one manifest document.
const maxElements = 200_000

// parseXML reads a whole document into a tree. A syntax error names the
// line the decoder stopped at.
func parseXML(file string, r io.Reader) (*node, error) {
	d := xml.NewDecoder(r)
	// Manifests declare UTF-8; tolerate the common Latin-1 declarations by
	// passing bytes through rather than failing on the charset name.
	d.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "us-ascii", "ascii", "iso-8859-1", "latin1", "windows-1252":
			return in, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	var root *node
	var stack []*node
	count := 0
	for {
		// The position before Token is the end of the previous token, which
		// is where this one starts: white space belongs to CharData.
		line, _ := d.InputPos()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &Problem{File: file, Line: se.Line, Msg: "malformed XML: " + se.Msg}
			}
			l, _ := d.InputPos()
			return nil, &Problem{File: file, Line: l, Msg: "malformed XML: " + err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > maxElements {
				return nil, &Problem{File: file, Line: line, Msg: fmt.Sprintf("more than %d elements", maxElements)}
			}
			if len(stack) >= maxDepth {
				return nil, &Problem{File: file, Line: line, Element: t.Name.Local, Msg: fmt.Sprintf("nested deeper than %d elements", maxDepth)}
			}
			n := &node{name: t.Name, attrs: t.Copy().Attr, line: line}
			if len(stack) == 0 {
				if root != nil {
					return nil, &Problem{File: file, Line: n.line, Element: t.Name.Local, Msg: "a second root element"}
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil {
		return nil, &Problem{File: file, Line: 1, Msg: "no root element"}
	}
	return root, nil
}

// child returns the first child with the local name, or nil.
func (n *node) child(local string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.name.Local == local {
			return c
		}
	}
	return nil
}

// all returns the children with the local name.
func (n *node) all(local string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, c := range n.children {
		if c.name.Local == local {
			out = append(out, c)
		}
	}
	return out
}

// path follows a chain of local names.
func (n *node) path(locals ...string) *node {
	for _, l := range locals {
		n = n.child(l)
	}
	return n
}

// attr returns the attribute with the local name (any namespace).
func (n *node) attr(local string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.attrs {
		if a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// attrFold is attr with a case-insensitive name: SCORM 1.2 writes
// adlcp:scormtype, SCORM 2004 adlcp:scormType, and packages mix them up.
func (n *node) attrFold(local string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.attrs {
		if strings.EqualFold(a.Name.Local, local) {
			return a.Value, true
		}
	}
	return "", false
}

func (n *node) value() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.text.String())
}

// langString reads a LOM/cmi5 language string: the text itself, or its
// first <string>/<langstring> child, or the one in lang when present.
func (n *node) langString(lang string) string {
	if n == nil {
		return ""
	}
	var first string
	for _, c := range n.children {
		if c.name.Local != "string" && c.name.Local != "langstring" && c.name.Local != "langString" {
			continue
		}
		v := c.value()
		if first == "" {
			first = v
		}
		if l, ok := c.attr("lang"); ok && lang != "" && strings.EqualFold(l, lang) {
			return v
		}
	}
	if first != "" {
		return first
	}
	return n.value()
}

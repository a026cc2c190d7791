package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/learnstream/learnstream/domain/xapi"
)

// part is one attachment payload of a multipart statement request.
type part struct {
	contentType string
	content     []byte
}

// requestError is an error answered with its own status and message
// (a bad request: 400 or 413; an erasure that cannot start: 404, 503).
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// writeRequestError answers a *requestError with its status, a
// *http.MaxBytesError with 413, anything else with 400.
func writeRequestError(w http.ResponseWriter, err error) {
	var re *requestError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		writeError(w, re.status, re.msg)
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", tooBig.Limit))
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

// readStatementsBody reads a statements request: JSON, or multipart/mixed
// with the statements first and attachment payloads after (Data 2.4.11).
func (x *lrs) readStatementsBody(w http.ResponseWriter, r *http.Request) ([]byte, map[string]part, bool) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || (err == nil && mt == "application/json") {
		body, ok := x.readBody(w, r)
		return body, nil, ok
	}
	if err != nil || mt != "multipart/mixed" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("header Content-Type: %q is not supported here (application/json or multipart/mixed)", ct))
		return nil, nil, false
	}
	body, parts, err := parseMultipart(r.Body, params["boundary"], x.be.MaxAttachmentBytes)
	if err != nil {
		writeRequestError(w, err)
		return nil, nil, false
	}
	return body, parts, true
}

// parseMultipart reads a multipart/mixed statements request: the first
// part is the statements (application/json); every other part is an
// attachment payload with an X-Experience-API-Hash header that must be the
// SHA-2 of its content, and Content-Transfer-Encoding binary. Payloads over
// maxPart bytes are refused with 413. Parts are keyed by lower-case hash.
func parseMultipart(body io.Reader, boundary string, maxPart int64) ([]byte, map[string]part, error) {
	if boundary == "" {
		return nil, nil, badRequest("header Content-Type: multipart/mixed needs a boundary parameter")
	}
	mr := multipart.NewReader(body, boundary)
	var statements []byte
	parts := map[string]part{}
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, nil, err
			}
			return nil, nil, badRequest("multipart body: %v", err)
		}
		ct := p.Header.Get("Content-Type")
		mt, _, _ := mime.ParseMediaType(ct)
		if i == 0 {
			if mt != "application/json" {
				return nil, nil, badRequest("multipart part 1: Content-Type must be application/json (the statements), not %q", ct)
			}
			if statements, err = io.ReadAll(p); err != nil {
				return nil, nil, readPartError(err, 1)
			}
			continue
		}
		hashHeader := strings.ToLower(strings.TrimSpace(p.Header.Get("X-Experience-API-Hash")))
		if hashHeader == "" {
			return nil, nil, badRequest("multipart part %d: header X-Experience-API-Hash is required", i+1)
		}
		if cte := strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding")); !strings.EqualFold(cte, "binary") {
			return nil, nil, badRequest("multipart part %d: header Content-Transfer-Encoding must be binary, not %q", i+1, cte)
		}
		content, err := io.ReadAll(io.LimitReader(p, maxPart+1))
		if err != nil {
			return nil, nil, readPartError(err, i+1)
		}
		if int64(len(content)) > maxPart {
			return nil, nil, &requestError{http.StatusRequestEntityTooLarge,
				fmt.Sprintf("multipart part %d: attachment exceeds the limit of %d bytes", i+1, maxPart)}
		}
		h := newSHA2(len(hashHeader))
		if h == nil {
			return nil, nil, badRequest("multipart part %d: X-Experience-API-Hash %q is not a hex SHA-256, SHA-384 or SHA-512", i+1, hashHeader)
		}
		h.Write(content)
		if got := hex.EncodeToString(h.Sum(nil)); got != hashHeader {
			return nil, nil, badRequest("multipart part %d: content does not match X-Experience-API-Hash (got %s)", i+1, got)
		}
		parts[hashHeader] = part{contentType: ct, content: content}
	}
	if statements == nil {
		return nil, nil, badRequest("multipart body: no parts")
	}
	return statements, parts, nil
}

func readPartError(err error, n int) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return badRequest("multipart part %d: %v", n, err)
}

// newSHA2 returns the SHA-2 hash whose hex digest has n digits.
func newSHA2(n int) hash.Hash {
	switch n {
	case 64:
		return sha256.New()
	case 96:
		return sha512.New384()
	case 128:
		return sha512.New()
	}
	return nil
}

// checkAttachments matches attachment metadata and payloads: every
// attachment without a fileUrl needs its payload, every payload must belong
// to an attachment, and signature attachments must verify (Data 2.4.11,
// 2.6). Errors are *xapi.ValidationError or plain (both 400).
func checkAttachments(sts []*xapi.Statement, parts map[string]part) error {
	used := map[string]bool{}
	for i, st := range sts {
		for j, a := range st.Attachments {
			sha := strings.ToLower(a.SHA2)
			p, ok := parts[sha]
			if !ok {
				if a.FileURL == "" || a.UsageType == xapi.UsageTypeSignature {
					return fmt.Errorf("statements[%d].attachments[%d]: no payload with X-Experience-API-Hash %s in the request (send multipart/mixed, or give a fileUrl)", i, j, a.SHA2)
				}
				continue
			}
			used[sha] = true
			if a.UsageType == xapi.UsageTypeSignature {
				if err := xapi.VerifySignature(st, p.content); err != nil {
					return fmt.Errorf("statements[%d]: %w", i, err)
				}
			}
		}
	}
	for sha := range parts {
		if !used[sha] {
			return fmt.Errorf("multipart body: the payload with X-Experience-API-Hash %s belongs to no attachment", sha)
		}
	}
	return nil
}

// writeMultipart answers statements with their attachment payloads
// (GET /statements?attachments=true): the JSON first, then one part per
// payload.
func writeMultipart(w http.ResponseWriter, status int, jsonBody []byte, payloads []attachmentOut) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "application/json")
	pw, _ := mw.CreatePart(h)
	pw.Write(jsonBody)
	for _, p := range payloads {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", p.contentType)
		h.Set("Content-Transfer-Encoding", "binary")
		h.Set("X-Experience-API-Hash", p.sha2)
		pw, _ := mw.CreatePart(h)
		pw.Write(p.content)
	}
	mw.Close()
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type attachmentOut struct {
	sha2, contentType string
	content           []byte
}

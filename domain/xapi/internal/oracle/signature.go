package oracle

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// UsageTypeSignature marks the attachment that carries a statement's JWS
// signature (Data 2.6).
const UsageTypeSignature = "http://adlnet.gov/expapi/attachments/signature"

// SignatureAttachment returns the signature attachment of s, if any.
func (s *Statement) SignatureAttachment() (Attachment, bool) {
	for _, a := range s.Attachments {
		if a.UsageType == UsageTypeSignature {
			return a, true
		}
	}
	return Attachment{}, false
}

// VerifySignature checks a signed statement as Data 2.6 asks of an LRS:
// the signature attachment has content type application/octet-stream; jws
// is a JWS compact serialization with algorithm RS256, RS384 or RS512
// whose payload is a valid statement equivalent to s (ignoring what the LRS
// adds, and the signature attachment, which cannot be part of what it
// signs); and when the JWS header carries an X.509 chain (x5c), the
// signature verifies with the first certificate's RSA key. Errors are
// *ValidationError naming the attachment.
func VerifySignature(s *Statement, jws []byte) error {
	const field = "attachments.signature"
	att, ok := s.SignatureAttachment()
	if !ok {
		return invalid(field, "no attachment has usageType %s", UsageTypeSignature)
	}
	if ct := strings.ToLower(strings.TrimSpace(att.ContentType)); ct != "application/octet-stream" {
		return invalid(field+".contentType", "must be application/octet-stream, not %q", att.ContentType)
	}
	parts := strings.Split(strings.TrimSpace(string(jws)), ".")
	if len(parts) != 3 {
		return invalid(field, "must be a JWS compact serialization (header.payload.signature)")
	}
	rawHeader, err1 := decodeSegment(parts[0])
	rawPayload, err2 := decodeSegment(parts[1])
	sig, err3 := decodeSegment(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return invalid(field, "JWS segments must be base64url")
	}
	var header struct {
		Alg string   `json:"alg"`
		X5C []string `json:"x5c"`
	}
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		return invalid(field, "JWS header is not JSON: %v", err)
	}
	var hash crypto.Hash
	switch header.Alg {
	case "RS256":
		hash = crypto.SHA256
	case "RS384":
		hash = crypto.SHA384
	case "RS512":
		hash = crypto.SHA512
	default:
		return invalid(field, "JWS algorithm %q is not allowed (RS256, RS384 or RS512)", header.Alg)
	}
	signed, err := ParseStatement(rawPayload)
	if err != nil {
		return invalid(field, "JWS payload is not a valid statement: %v", err)
	}
	if !Equivalent(withoutSignature(signed), withoutSignature(s)) {
		return invalid(field, "JWS payload is not equivalent to the statement")
	}
	if len(header.X5C) == 0 {
		// Nothing to verify against; the specification asks for the
		// certificate check only when the header carries one.
		return nil
	}
	der, err := base64.StdEncoding.DecodeString(header.X5C[0])
	if err != nil {
		return invalid(field, "JWS header x5c[0] is not base64: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return invalid(field, "JWS header x5c[0] is not an X.509 certificate: %v", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return invalid(field, "JWS certificate key is not RSA")
	}
	var digest []byte
	input := []byte(parts[0] + "." + parts[1])
	switch hash {
	case crypto.SHA256:
		d := sha256.Sum256(input)
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384(input)
		digest = d[:]
	default:
		d := sha512.Sum512(input)
		digest = d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return invalid(field, "JWS signature does not verify with the x5c certificate")
	}
	return nil
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func withoutSignature(s *Statement) *Statement {
	c := s.Clone()
	var keep []Attachment
	for _, a := range c.Attachments {
		if a.UsageType != UsageTypeSignature {
			keep = append(keep, a)
		}
	}
	c.Attachments = keep
	return c
}

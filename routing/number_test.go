package routing

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	// plan48 is the brief's example plan: a national prefix, and also 9-digit national
	// numbers without it.
	plan48 = Numbering{CountryCode: "48", NationalPrefix: "0", InternationalPrefix: "00", NationalLength: 9}
	// poland is Poland as it is: no trunk prefix since 2005, 9-digit national numbers.
	poland = Numbering{CountryCode: "48", InternationalPrefix: "00", NationalLength: 9}
	uk     = Numbering{CountryCode: "44", NationalPrefix: "0", InternationalPrefix: "00"}
	nanp   = Numbering{CountryCode: "1", NationalPrefix: "1", InternationalPrefix: "011", NationalLength: 10}
)

func TestNormalise(t *testing.T) {
	tests := []struct {
		name     string
		plan     Numbering
		in       string
		dialled  string
		e164     string
		errorHas string
	}{
		{name: "plus", plan: plan48, in: "+48221234567", dialled: "+48221234567", e164: "+48221234567"},
		{name: "plus foreign", plan: plan48, in: "+442071234567", dialled: "+442071234567", e164: "+442071234567"},
		{name: "international prefix", plan: plan48, in: "0048221234567", dialled: "0048221234567", e164: "+48221234567"},
		{name: "international prefix foreign", plan: plan48, in: "00442071234567", dialled: "00442071234567", e164: "+442071234567"},
		{name: "national prefix", plan: plan48, in: "0221234567", dialled: "0221234567", e164: "+48221234567"},
		{name: "national length without prefix", plan: plan48, in: "221234567", dialled: "221234567", e164: "+48221234567"},
		{name: "poland national", plan: poland, in: "221234567", dialled: "221234567", e164: "+48221234567"},
		{name: "poland wrong length is short", plan: poland, in: "22123456", dialled: "22123456"},
		{name: "uk national", plan: uk, in: "02071234567", dialled: "02071234567", e164: "+442071234567"},
		{name: "uk without prefix is short", plan: uk, in: "2071234", dialled: "2071234"},
		{name: "nanp with 1", plan: nanp, in: "12125551234", dialled: "12125551234", e164: "+12125551234"},
		{name: "nanp ten digits", plan: nanp, in: "2125551234", dialled: "2125551234", e164: "+12125551234"},
		{name: "nanp 011", plan: nanp, in: "011442071234567", dialled: "011442071234567", e164: "+442071234567"},
		{name: "emergency is short", plan: plan48, in: "112", dialled: "112"},
		{name: "national prefix alone is short", plan: plan48, in: "0", dialled: "0"},
		{name: "service code with star and hash", plan: plan48, in: "*31#", dialled: "*31#"},
		{name: "hash in a local number", plan: plan48, in: "12#", dialled: "12#"},
		{name: "visual separators", plan: plan48, in: "+48 22 123-45-67", dialled: "+48221234567", e164: "+48221234567"},
		{name: "brackets and dots", plan: plan48, in: "(022) 123.45.67", dialled: "0221234567", e164: "+48221234567"},
		{name: "separator before plus", plan: plan48, in: " +48221234567", dialled: "+48221234567", e164: "+48221234567"},
		{name: "no country code: only plus and international", plan: Numbering{InternationalPrefix: "00"}, in: "0221234567", dialled: "0221234567"},
		{name: "fifteen digits", plan: plan48, in: "+123456789012345", dialled: "+123456789012345", e164: "+123456789012345"},

		{name: "empty", plan: plan48, in: "", errorHas: "empty"},
		{name: "only separators", plan: plan48, in: " - ", errorHas: "empty"},
		{name: "letters", plan: plan48, in: "abc", errorHas: `unexpected character 'a'`},
		{name: "sip uri", plan: plan48, in: "sip:123@host", errorHas: "unexpected character 's'"},
		{name: "unicode", plan: plan48, in: "12ł3", errorHas: "unexpected character 'ł'"},
		{name: "plus in the middle", plan: plan48, in: "1+2", errorHas: "only at the start"},
		{name: "two pluses", plan: plan48, in: "++48", errorHas: "only at the start"},
		{name: "plus alone", plan: plan48, in: "+", errorHas: "no digits after +"},
		{name: "plus zero", plan: plan48, in: "+0123", errorHas: "cannot start with 0"},
		{name: "plus star", plan: plan48, in: "+12*3", errorHas: "* and # cannot follow +"},
		{name: "sixteen digits", plan: plan48, in: "+1234567890123456", errorHas: "15 digits"},
		{name: "international prefix alone", plan: plan48, in: "00", errorHas: "no digits after the international prefix"},
		{name: "international prefix then zero", plan: plan48, in: "000123", errorHas: "cannot start with 0"},
		{name: "national too long", plan: plan48, in: "01234567890123456", errorHas: "15 digits"},
		{name: "too long", plan: plan48, in: strings.Repeat("1", 33), errorHas: "longer than 32"},
		{name: "far too long", plan: plan48, in: strings.Repeat("1", 1000), errorHas: "too long"},
		{name: "nul byte", plan: plan48, in: "12\x003", errorHas: "unexpected character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			num, err := tc.plan.Normalise(tc.in)
			if tc.errorHas != "" {
				require.Error(t, err)
				require.True(t, errors.Is(err, ErrInvalidNumber))
				require.Contains(t, err.Error(), tc.errorHas)
				return
			}
			require.NoError(t, err)
			require.Equal(t, Number{Dialled: tc.dialled, E164: tc.e164}, num)
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name      string
		plan      Numbering
		in        string
		e164      string
		national  string
		asDialled string
	}{
		{name: "own country from plus", plan: plan48, in: "+48221234567", e164: "+48221234567", national: "0221234567", asDialled: "+48221234567"},
		{name: "own country from national", plan: plan48, in: "0221234567", e164: "+48221234567", national: "0221234567", asDialled: "0221234567"},
		{name: "foreign", plan: plan48, in: "+442071234567", e164: "+442071234567", national: "00442071234567", asDialled: "+442071234567"},
		{name: "poland without prefix", plan: poland, in: "0048221234567", e164: "+48221234567", national: "221234567", asDialled: "0048221234567"},
		{name: "poland wrong length goes international", plan: poland, in: "+4880012345", e164: "+4880012345", national: "004880012345", asDialled: "+4880012345"},
		{name: "nanp", plan: nanp, in: "+12125551234", e164: "+12125551234", national: "12125551234", asDialled: "+12125551234"},
		{name: "nanp foreign", plan: nanp, in: "+442071234567", e164: "+442071234567", national: "011442071234567", asDialled: "+442071234567"},
		{name: "short number everywhere as dialled", plan: plan48, in: "112", e164: "112", national: "112", asDialled: "112"},
		{name: "national form would read as international", plan: plan48, in: "+480123", e164: "+480123", national: "00480123", asDialled: "+480123"},
		{name: "no international prefix keeps E.164", plan: Numbering{CountryCode: "48", NationalPrefix: "0"}, in: "+442071234567", e164: "+442071234567", national: "+442071234567", asDialled: "+442071234567"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			num, err := tc.plan.Normalise(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.e164, tc.plan.FormatE164(num))
			require.Equal(t, tc.national, tc.plan.FormatNational(num))
			require.Equal(t, tc.asDialled, tc.plan.FormatAsDialled(num))
			for f, want := range map[NumberFormat]string{E164: tc.e164, National: tc.national, AsDialled: tc.asDialled} {
				got, err := tc.plan.Format(num, f)
				require.NoError(t, err)
				require.Equal(t, want, got, f)
			}
		})
	}
	_, err := plan48.Format(Number{Dialled: "1"}, "E.164")
	require.ErrorContains(t, err, `unknown number format "E.164"`)
	require.False(t, NumberFormat("").Valid())
}

func TestNumberingValidate(t *testing.T) {
	tests := []struct {
		name   string
		plan   Numbering
		fields []string
	}{
		{name: "brief example", plan: plan48},
		{name: "poland", plan: poland},
		{name: "nanp", plan: nanp},
		{name: "zero value", plan: Numbering{}},
		{name: "country code with plus", plan: Numbering{CountryCode: "+48"}, fields: []string{"country_code"}},
		{name: "country code zero", plan: Numbering{CountryCode: "048"}, fields: []string{"country_code"}},
		{name: "country code too long", plan: Numbering{CountryCode: "4812"}, fields: []string{"country_code"}},
		{name: "national prefix letters", plan: Numbering{CountryCode: "48", NationalPrefix: "O"}, fields: []string{"national_prefix"}},
		{name: "national prefix without country", plan: Numbering{NationalPrefix: "0"}, fields: []string{"national_prefix"}},
		{name: "national prefix equals international", plan: Numbering{CountryCode: "48", NationalPrefix: "00", InternationalPrefix: "00"}, fields: []string{"national_prefix"}},
		{name: "international prefix letters", plan: Numbering{InternationalPrefix: "+"}, fields: []string{"international_prefix"}},
		{name: "national length negative", plan: Numbering{CountryCode: "48", NationalLength: -1}, fields: []string{"national_length"}},
		{name: "national length without country", plan: Numbering{NationalLength: 9}, fields: []string{"national_length"}},
		{name: "all at once", plan: Numbering{CountryCode: "x", NationalPrefix: "y", InternationalPrefix: "z", NationalLength: 99},
			fields: []string{"country_code", "national_prefix", "international_prefix", "national_length"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.plan.Validate()
			if len(tc.fields) == 0 {
				require.NoError(t, err)
				return
			}
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.fields, fieldNames(ve))
		})
	}
}

func fieldNames(ve *ValidationError) []string {
	var out []string
	for _, f := range ve.Errors {
		out = append(out, f.Field)
	}
	return out
}

#!/usr/bin/perl
#
# meta.t: META.json follows the PGXN Meta Spec 1.0 (https://pgxn.org/meta/spec.txt),
# so that PGXN accepts the archive `make dist` builds; `make dist` runs this
# script first and stops if it fails.
#
# Why a checker of our own: no validator for the spec is packaged by Debian or
# published on npm (the registries reachable here). PGXN's own validators are
# a CPAN module and a Rust crate, neither reachable. So this script checks the
# spec's rules itself, field by field: the required keys, the allowed keys
# (custom ones start with x_), and the shape of every value (terms, SemVer
# versions, version ranges, licenses, provides, prereqs, resources, tags,
# no_index, meta-spec). Then it checks what the spec leaves to us: the names,
# files and versions META.json gives exist and agree with the control file.
#
# Usage: perl test/tap/meta.t [META.json]   (prints TAP; exits 1 on failure)
# Needs only core Perl (JSON::PP).

use strict;
use warnings;
use JSON::PP;
use FindBin;

chdir "$FindBin::Bin/../.." or die "cannot chdir to the repository: $!";
my $file = shift // 'META.json';

my @errors;    # from the spec checks, "path: what is wrong"
my $n = 0;
my $failed = 0;
sub ok {
    my ($cond, $what, @diag) = @_;
    $n++;
    print(($cond ? "ok" : "not ok") . " $n - $what\n");
    print map { "#   $_\n" } @diag unless $cond;
    $failed = 1 unless $cond;
}

# --- the spec's value types ------------------------------------------------

my $SEMVER = qr/(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)
                (?:-(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*)?
                (?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?/x;
my %LICENSES = map { $_ => 1 } qw(
    agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd gfdl_1_2 gfdl_1_3
    gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl perl_5
    postgresql qpl_1_0 ssleay sun zlib open_source restricted unrestricted unknown);

sub err { push @errors, "$_[0]: $_[1]" }
sub is_str { defined $_[0] && !ref $_[0] }
sub is_obj { ref $_[0] eq 'HASH' }
sub is_arr { ref $_[0] eq 'ARRAY' }

sub nonempty_string {
    my ($path, $v) = @_;
    is_str($v) && length $v or err($path, "must be a non-empty string");
}
# A term: at least two characters, none of them a slash, backslash, space or control.
sub term {
    my ($path, $v) = @_;
    is_str($v) && $v =~ m{\A[^/\\\s\p{Cntrl}]{2,}\z} or err($path, "must be a term (2+ characters, no slash, backslash, space or control character)");
}
sub semver {
    my ($path, $v) = @_;
    is_str($v) && $v =~ /\A$SEMVER\z/ or err($path, "must be a SemVer version such as 1.2.0, got " . encode_json([$v]));
}
# A version range: 0, or comma-separated SemVer versions, each with an optional operator.
sub version_range {
    my ($path, $v) = @_;
    return if defined $v && !ref $v && $v =~ /\A0\z/;
    my $one = qr/(?:(?:[=!]=|[<>]=?)\s*)?$SEMVER/;
    is_str($v) && $v =~ /\A$one(?:\s*,\s*$one)*\z/
        or err($path, "must be 0 or a version range such as '>= 1.2.0, < 2.0.0', got " . encode_json([$v]));
}
sub path_value {
    my ($path, $v) = @_;
    is_str($v) && length $v >= 2 && $v !~ m{\A/} && $v !~ m{\\} && $v !~ m{(?:\A|/)\.\.(?:/|\z)}
        or err($path, "must be a relative path inside the distribution");
}
sub uri {
    my ($path, $v) = @_;
    is_str($v) && $v =~ m{\A[A-Za-z][A-Za-z0-9+.-]*:\S+\z} or err($path, "must be a URI");
}
sub unique_list {
    my ($path, $v, $check) = @_;
    is_arr($v) && @$v or return err($path, "must be a non-empty array");
    my %seen;
    for my $i (0 .. $#$v) {
        $check->("$path\[$i\]", $v->[$i]);
        err("$path\[$i\]", "repeats an earlier item") if is_str($v->[$i]) && $seen{$v->[$i]}++;
    }
}
# An object whose keys are all among @allowed (x_ custom keys too when $custom).
sub keys_among {
    my ($path, $v, $custom, @allowed) = @_;
    my %ok = map { $_ => 1 } @allowed;
    for my $k (sort keys %$v) {
        next if $ok{$k} || ($custom && $k =~ /\A[xX]_./);
        err("$path.$k", "is not a key the spec defines" . ($custom ? " (custom keys start with x_)" : ""));
    }
}
sub any_of {
    my ($path, $v, @keys) = @_;
    grep { exists $v->{$_} } @keys or err($path, "needs at least one of: @keys");
}

# --- the spec's fields -----------------------------------------------------

my %CHECK = (
    name          => \&term,
    version       => \&semver,
    abstract      => \&nonempty_string,
    description   => \&nonempty_string,
    generated_by  => \&nonempty_string,
    maintainer    => sub {
        my ($p, $v) = @_;
        is_arr($v) ? unique_list($p, $v, \&nonempty_string) : nonempty_string($p, $v);
    },
    license       => sub {
        my ($p, $v) = @_;
        my $known = sub { is_str($_[1]) && $LICENSES{$_[1]} or err($_[0], "is not a license name of the spec (e.g. postgresql, mit)") };
        if (is_obj($v)) {
            %$v or err($p, "must name at least one license");
            uri("$p.$_", $v->{$_}) for sort keys %$v;
        } elsif (is_arr($v)) {
            unique_list($p, $v, $known);
        } else {
            $known->($p, $v);
        }
    },
    provides      => sub {
        my ($p, $v) = @_;
        is_obj($v) && %$v or return err($p, "must be an object naming at least one extension");
        for my $ext (sort keys %$v) {
            my $e = $v->{$ext};
            term("$p key '$ext'", $ext);
            is_obj($e) or err("$p.$ext", "must be an object"), next;
            keys_among("$p.$ext", $e, 0, qw(file version abstract docfile docpath));
            exists $e->{file}    ? path_value("$p.$ext.file", $e->{file})  : err("$p.$ext", "needs file");
            exists $e->{version} ? semver("$p.$ext.version", $e->{version}) : err("$p.$ext", "needs version");
            nonempty_string("$p.$ext.abstract", $e->{abstract}) if exists $e->{abstract};
            path_value("$p.$ext.docfile", $e->{docfile})        if exists $e->{docfile};
            nonempty_string("$p.$ext.docpath", $e->{docpath})   if exists $e->{docpath};
        }
    },
    'meta-spec'   => sub {
        my ($p, $v) = @_;
        is_obj($v) or return err($p, "must be an object");
        keys_among($p, $v, 0, qw(version url));
        is_str($v->{version}) && $v->{version} =~ /\A1\.0\.\d+\z/ or err("$p.version", "must be 1.0.x");
        !exists $v->{url} || (is_str($v->{url}) && $v->{url} =~ m{\Ahttps?://pgxn\.org/meta/spec\.txt\z})
            or err("$p.url", "must be https://pgxn.org/meta/spec.txt");
    },
    tags          => sub {
        my ($p, $v) = @_;
        unique_list($p, $v, sub {
            is_str($_[1]) && length $_[1] <= 255 && $_[1] =~ m{\A[^/\\\p{Cntrl}]{2,}\z}
                or err($_[0], "must be a tag of 2 to 255 characters, no slash, backslash or control character");
        });
    },
    no_index      => sub {
        my ($p, $v) = @_;
        is_obj($v) or return err($p, "must be an object");
        keys_among($p, $v, 0, qw(file directory));
        any_of($p, $v, qw(file directory));
        for my $k (grep { exists $v->{$_} } qw(file directory)) {
            is_arr($v->{$k}) ? unique_list("$p.$k", $v->{$k}, \&path_value) : path_value("$p.$k", $v->{$k});
        }
    },
    prereqs       => sub {
        my ($p, $v) = @_;
        is_obj($v) or return err($p, "must be an object");
        my @phases = qw(configure build test runtime develop);
        keys_among($p, $v, 0, @phases);
        any_of($p, $v, @phases);
        for my $phase (grep { exists $v->{$_} } @phases) {
            my $ph = $v->{$phase};
            is_obj($ph) or err("$p.$phase", "must be an object"), next;
            my @rels = qw(requires recommends suggests conflicts);
            keys_among("$p.$phase", $ph, 0, @rels);
            any_of("$p.$phase", $ph, @rels);
            for my $rel (grep { exists $ph->{$_} } @rels) {
                my $r = $ph->{$rel};
                is_obj($r) && %$r or err("$p.$phase.$rel", "must name at least one prerequisite"), next;
                for my $dep (sort keys %$r) {
                    term("$p.$phase.$rel key '$dep'", $dep);
                    version_range("$p.$phase.$rel.$dep", $r->{$dep});
                }
            }
        }
    },
    release_status => sub {
        my ($p, $v) = @_;
        is_str($v) && $v =~ /\A(?:stable|testing|unstable)\z/ or err($p, "must be stable, testing or unstable");
    },
    resources     => sub {
        my ($p, $v) = @_;
        is_obj($v) or return err($p, "must be an object");
        keys_among($p, $v, 1, qw(homepage bugtracker repository));
        any_of($p, $v, qw(homepage bugtracker repository));
        uri("$p.homepage", $v->{homepage}) if exists $v->{homepage};
        if (exists $v->{bugtracker}) {
            my $b = $v->{bugtracker};
            if (is_obj($b)) {
                keys_among("$p.bugtracker", $b, 0, qw(web mailto));
                any_of("$p.bugtracker", $b, qw(web mailto));
                uri("$p.bugtracker.web", $b->{web}) if exists $b->{web};
                !exists $b->{mailto} || (is_str($b->{mailto}) && $b->{mailto} =~ /\A[^@\s]+@[^@\s]+\z/)
                    or err("$p.bugtracker.mailto", "must be an email address");
            } else { err("$p.bugtracker", "must be an object") }
        }
        if (exists $v->{repository}) {
            my $r = $v->{repository};
            if (is_obj($r)) {
                keys_among("$p.repository", $r, 0, qw(url web type));
                (exists $r->{url} && exists $r->{type}) || exists $r->{web}
                    or err("$p.repository", "needs url and type, or web");
                uri("$p.repository.url", $r->{url}) if exists $r->{url};
                uri("$p.repository.web", $r->{web}) if exists $r->{web};
                !exists $r->{type} || (is_str($r->{type}) && $r->{type} =~ /\A[a-z]+\z/)
                    or err("$p.repository.type", "must be a lower-case word such as git");
            } else { err("$p.repository", "must be an object") }
        }
    },
);
my @REQUIRED = qw(name version abstract maintainer license provides meta-spec);

# --- the checks ------------------------------------------------------------

print "1..8\n";

my $text = do { local $/; open my $fh, '<', $file or die "cannot read $file: $!"; <$fh> };
my $meta = eval { JSON::PP->new->utf8->decode($text) };
ok(is_obj($meta), "$file is a JSON object", $@ ? "parse error: $@" : ());
$meta = {} unless is_obj($meta);

my @missing = grep { !exists $meta->{$_} } @REQUIRED;
ok(!@missing, "it has every key the spec requires (@REQUIRED)", map { "missing: $_" } @missing);

@errors = ();
keys_among('META', $meta, 1, keys %CHECK);
$CHECK{$_}->($_, $meta->{$_}) for grep { exists $meta->{$_} } sort keys %CHECK;
ok(!@errors, "every key is one the spec defines, and every value has the spec's shape", @errors);

my $control = do { local $/; open my $fh, '<', 'fleet_sites.control' or die "fleet_sites.control: $!"; <$fh> };
my ($ctl_version) = $control =~ /^default_version\s*=\s*'([^']*)'/m;
ok(($meta->{name} // '') eq 'fleet_sites', "the distribution is named fleet_sites",
   "name: " . ($meta->{name} // 'none'));

my $ext = is_obj($meta->{provides}) ? $meta->{provides}{fleet_sites} : undef;
ok(is_obj($ext), "it provides the extension fleet_sites");
$ext = {} unless is_obj($ext);

my @absent = grep { !-f $_ } grep { defined } @$ext{qw(file docfile)};
ok(defined $ext->{file} && !@absent, "the files it names exist (file, docfile)", map { "no such file: $_" } @absent);

# PGXN needs three-part SemVer; the control file has major.minor.
ok(defined $ctl_version && ($meta->{version} // '') eq "$ctl_version.0"
       && ($ext->{version} // '') eq "$ctl_version.0",
   "the distribution and the extension are version " . ($ctl_version // '?') . ".0, as fleet_sites.control says",
   "META version: " . ($meta->{version} // 'none') . ", provides: " . ($ext->{version} // 'none'));

# A key that the JSON decoder would silently merge (the last one wins) hides a mistake.
my %dups;
my $depth = 0;
while ($text =~ /("(?:[^"\\]|\\.)*")\s*:|([{}])/g) {
    if (defined $2) { $depth += $2 eq '{' ? 1 : -1; next }
    $dups{$1}++ if $depth == 1;
}
my @twice = grep { $dups{$_} > 1 } sort keys %dups;
ok(!@twice, "no top-level key is given twice", map { "twice: $_" } @twice);

exit $failed;

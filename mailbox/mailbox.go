// Package mailbox owns every byte of stored mail: the Maildir++ tree of each
// user, the UID index beside it, flags, modification sequences, durable
// delivery, and the change notifications that let many sessions share one
// folder.
//
// It knows nothing of wire protocols: IMAP sequence numbers live in imapd,
// POP3 message numbers in pop3d. Front ends talk to the Store, Account and
// Folder interfaces below; the Maildir implementation is the only one today,
// and the interfaces keep room for another (see DESIGN.md, "Growing past one
// machine").
//
// Names: folder names cross this API in UTF-8 with "/" as the hierarchy
// delimiter ("Archive/2024"); "INBOX" (any case) is the root Maildir. Message
// content crosses it with CRLF line ends, whatever the file holds on disk, and
// every size is a count of those CRLF octets.
package mailbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors returned by the store. Front ends map them to protocol codes in one
// place each; wrapped errors carry detail for the log only.
var (
	ErrNoMailbox   = errors.New("mailbox: no such folder")
	ErrExists      = errors.New("mailbox: folder already exists")
	ErrBadName     = errors.New("mailbox: invalid folder name")
	ErrNoMessage   = errors.New("mailbox: no such message")
	ErrNoUser      = errors.New("mailbox: no such user")
	ErrTooBig      = errors.New("mailbox: message too big")
	ErrOverQuota   = errors.New("mailbox: over quota")
	ErrNoSpace     = errors.New("mailbox: no space left on device")
	ErrReadOnly    = errors.New("mailbox: folder is read-only")
	ErrCannot      = errors.New("mailbox: operation not allowed on this folder")
	ErrHasChildren = errors.New("mailbox: folder has children")
	ErrClosed      = errors.New("mailbox: store is closed")
)

// Limits on folder names that a client is told about.
const (
	// MaxFolderNameBytes bounds a folder name with its parents and "/"
	// separators, as stored: its directory name (".A.B", modified UTF-7,
	// in which a non-ASCII character or "&" takes several bytes) must fit
	// in one path component of 255 bytes.
	MaxFolderNameBytes = maxDirName - 1
	// MaxFolderDepth bounds the levels of a folder name ("A/B/C": 3).
	MaxFolderDepth = maxFolderPath
)

// Kinds of ErrBadName whose reason a client can act on; each is also
// ErrBadName (errors.Is).
var (
	// ErrNameDot: "." is the Maildir++ hierarchy separator on disk, so
	// no folder name can hold one.
	ErrNameDot       = fmt.Errorf("%w: contains \".\"", ErrBadName)
	ErrNameTooLong   = fmt.Errorf("%w: longer than %d bytes", ErrBadName, MaxFolderNameBytes)
	ErrNameTooDeep   = fmt.Errorf("%w: deeper than %d levels", ErrBadName, MaxFolderDepth)
	ErrNameWildcard  = fmt.Errorf("%w: contains a LIST wildcard", ErrBadName)
	ErrNameBackslash = fmt.Errorf("%w: contains a backslash", ErrBadName)
)

// System flags, as IMAP spells them. Any other flag is a keyword.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Special-use attributes (RFC 6154) that the store records per folder.
const (
	UseSent    = `\Sent`
	UseDrafts  = `\Drafts`
	UseTrash   = `\Trash`
	UseJunk    = `\Junk`
	UseArchive = `\Archive`
	UseAll     = `\All`
	UseFlagged = `\Flagged`
)

// MessageInfo is what the index knows of one message.
type MessageInfo struct {
	UID          uint32
	Flags        []string // sorted, system flags and keywords
	Size         int64    // octets with CRLF line ends: RFC822.SIZE, POP3 LIST
	InternalDate time.Time
	ModSeq       uint64 // modification sequence of the last change (RFC 7162)
}

// FolderInfo describes one folder for LIST.
type FolderInfo struct {
	Name       string // UTF-8, "/"-delimited; "INBOX" for the root
	SpecialUse string // one of the Use* constants, or ""
	Subscribed bool
}

// Status is a folder's counters (IMAP STATUS, SELECT).
type Status struct {
	Messages      uint32
	Unseen        uint32
	Deleted       uint32
	UIDNext       uint32
	UIDValidity   uint32
	Size          int64 // sum of Sizes
	HighestModSeq uint64
}

// StoreOp says how Folder.SetFlags combines the given flags with the old ones.
type StoreOp int

const (
	FlagsReplace StoreOp = iota
	FlagsAdd
	FlagsRemove
)

// Changes is what happened in a folder since a Folder handle last looked:
// made by other sessions, by delivery, or by programs outside the server.
// Changes the handle itself made with SetFlags or Expunge are not repeated;
// messages it appended or copied into its own folder are (as Added).
type Changes struct {
	Expunged []uint32      // UIDs now gone, ascending
	Added    []MessageInfo // new messages, ascending UID
	Flags    []MessageInfo // messages whose flags changed, ascending UID
}

// Empty reports whether there is nothing to tell.
func (c Changes) Empty() bool {
	return len(c.Expunged) == 0 && len(c.Added) == 0 && len(c.Flags) == 0
}

// Store is the mail of every user.
type Store interface {
	// Deliver writes one message durably into the INBOX of each user: it
	// returns nil only when the message is in every INBOX and fsynced
	// (file and directories). A user listed twice gets it once. On error
	// nothing is left in any INBOX. The reader's error (for example a size
	// limit hit by the SMTP layer) is returned as is.
	Deliver(ctx context.Context, users []string, r io.Reader) error

	// Account opens a user's tree, creating it with INBOX, Sent, Drafts,
	// Trash, Junk and Archive on first use. user is the canonical address.
	Account(user string) (Account, error)

	// Close stops background work; open handles fail with ErrClosed after.
	Close() error
}

// Account is one user's tree of folders. It is safe for concurrent use; a
// session holds one for its life and closes it at logout.
type Account interface {
	List() ([]FolderInfo, error)
	Create(name, specialUse string) error
	// Delete removes a folder and its messages. INBOX cannot be deleted
	// (ErrCannot). A folder with children is deleted and its children stay.
	// Its subscription stays too (see Subscriptions).
	Delete(name string) error
	// Rename renames a folder with its children. Renaming INBOX moves all
	// its messages to the new folder and leaves INBOX empty (RFC 9051 §6.3.6).
	Rename(oldName, newName string) error
	// SetSubscribed adds a name to the subscriptions or removes it. A name
	// need not be a folder to be subscribed (RFC 9051 §6.3.7).
	SetSubscribed(name string, subscribed bool) error
	// Subscriptions lists every subscribed name, INBOX first, then by
	// name, whether or not a folder of that name exists: RFC 3501 §6.3.6
	// and RFC 9051 §6.3.7 say a server "MUST NOT unilaterally remove an
	// existing mailbox name from the subscription list even if a mailbox
	// by that name no longer exists", so a client must be able to see
	// such a name to unsubscribe it. List reports the subscribed state of
	// the folders that exist.
	Subscriptions() ([]string, error)
	Status(name string) (Status, error)
	// Append stores a message durably and returns its UID.
	Append(name string, r io.Reader, flags []string, date time.Time) (uidValidity, uid uint32, err error)
	// Open gives a session's handle on one folder (IMAP SELECT, POP3).
	Open(name string, readOnly bool) (Folder, error)
	Close() error
}

// Folder is one session's handle on a folder. Its methods are safe to call
// from one goroutine at a time (a session), except Notify, which may be read
// from any goroutine.
type Folder interface {
	Name() string
	UIDValidity() uint32
	ReadOnly() bool

	// Messages returns every message now in the folder, ascending UID, after
	// picking up outside changes. It resets the handle's change cursor:
	// Changes after it reports only what happened later.
	Messages() ([]MessageInfo, error)
	// Changes reports what happened since the last Messages or Changes call.
	Changes() (Changes, error)
	// Notify receives a value (without blocking the sender) whenever
	// Changes would have something new.
	Notify() <-chan struct{}
	// SetNotifyFunc has fn called whenever Notify's channel is signaled,
	// so that a caller need not keep a goroutine waiting on it (IMAP
	// IDLE). fn is called by whoever made the change, with the store's
	// lock held: it must return at once and must not call the store.
	// nil stops the calls.
	SetNotifyFunc(fn func())

	// Open returns the message content with CRLF line ends and its size in
	// those octets. ErrNoMessage if it was expunged.
	Open(uid uint32) (io.ReadCloser, int64, error)
	// SetFlags changes flags and returns the new state of each message
	// changed (those that are gone are left out).
	SetFlags(uids []uint32, op StoreOp, flags []string) ([]MessageInfo, error)
	// Expunge removes the given messages that carry \Deleted (all \Deleted
	// ones when uids is nil) and returns their UIDs, ascending.
	Expunge(uids []uint32) ([]uint32, error)
	// Remove removes the given messages whatever their flags (POP3 QUIT).
	Remove(uids []uint32) error
	// Copy copies messages to another folder of the same account, keeping
	// flags and internal date; it returns the destination's UIDVALIDITY and
	// the source and destination UIDs in matching order.
	Copy(uids []uint32, dest string) (destValidity uint32, src, dst []uint32, err error)
	// Move is Copy followed by removal from this folder, atomic for
	// observers (RFC 6851).
	Move(uids []uint32, dest string) (destValidity uint32, src, dst []uint32, err error)

	Close() error
}

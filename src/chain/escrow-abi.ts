/**
 * ABI of the TIP-1034 TIP-20 channel reserve (the session escrow) and its canonical address.
 *
 * This is the precompile's interface: selectors, events and errors must match the node exactly,
 * because clients sign against the same ids and servers decode the same events. The devnet's
 * Solidity stand-in is checked against this file.
 */
import type { Address } from 'viem'

/** Canonical escrow address on every Tempo network ("MPP" in ASCII). */
export const canonicalEscrow: Address = '0x4d50500000000000000000000000000000000000'

/** Seconds between a payer's `requestClose` and the earliest `withdraw`. */
export const closeGracePeriodSeconds = 900n

const descriptorComponents = [
  { name: 'payer', type: 'address' },
  { name: 'payee', type: 'address' },
  { name: 'operator', type: 'address' },
  { name: 'token', type: 'address' },
  { name: 'salt', type: 'bytes32' },
  { name: 'authorizedSigner', type: 'address' },
  { name: 'expiringNonceHash', type: 'bytes32' },
] as const

const stateComponents = [
  { name: 'settled', type: 'uint96' },
  { name: 'deposit', type: 'uint96' },
  { name: 'closeRequestedAt', type: 'uint32' },
] as const

const descriptor = {
  name: 'descriptor',
  type: 'tuple',
  components: descriptorComponents,
} as const

const indexedParties = [
  { name: 'channelId', type: 'bytes32', indexed: true },
  { name: 'payer', type: 'address', indexed: true },
  { name: 'payee', type: 'address', indexed: true },
] as const

const error = <const N extends string>(name: N) => ({ type: 'error', name, inputs: [] }) as const

export const escrowAbi = [
  {
    type: 'function',
    name: 'CLOSE_GRACE_PERIOD',
    stateMutability: 'view',
    inputs: [],
    outputs: [{ name: '', type: 'uint64' }],
  },
  {
    type: 'function',
    name: 'VOUCHER_TYPEHASH',
    stateMutability: 'view',
    inputs: [],
    outputs: [{ name: '', type: 'bytes32' }],
  },
  {
    type: 'function',
    name: 'open',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'payee', type: 'address' },
      { name: 'operator', type: 'address' },
      { name: 'token', type: 'address' },
      { name: 'deposit', type: 'uint96' },
      { name: 'salt', type: 'bytes32' },
      { name: 'authorizedSigner', type: 'address' },
    ],
    outputs: [{ name: 'channelId', type: 'bytes32' }],
  },
  {
    type: 'function',
    name: 'settle',
    stateMutability: 'nonpayable',
    inputs: [
      descriptor,
      { name: 'cumulativeAmount', type: 'uint96' },
      { name: 'signature', type: 'bytes' },
    ],
    outputs: [],
  },
  {
    type: 'function',
    name: 'topUp',
    stateMutability: 'nonpayable',
    inputs: [descriptor, { name: 'additionalDeposit', type: 'uint96' }],
    outputs: [],
  },
  {
    type: 'function',
    name: 'close',
    stateMutability: 'nonpayable',
    inputs: [
      descriptor,
      { name: 'cumulativeAmount', type: 'uint96' },
      { name: 'captureAmount', type: 'uint96' },
      { name: 'signature', type: 'bytes' },
    ],
    outputs: [],
  },
  {
    type: 'function',
    name: 'requestClose',
    stateMutability: 'nonpayable',
    inputs: [descriptor],
    outputs: [],
  },
  {
    type: 'function',
    name: 'withdraw',
    stateMutability: 'nonpayable',
    inputs: [descriptor],
    outputs: [],
  },
  {
    type: 'function',
    name: 'getChannel',
    stateMutability: 'view',
    inputs: [descriptor],
    outputs: [
      {
        name: '',
        type: 'tuple',
        components: [
          { name: 'descriptor', type: 'tuple', components: descriptorComponents },
          { name: 'state', type: 'tuple', components: stateComponents },
        ],
      },
    ],
  },
  {
    type: 'function',
    name: 'getChannelState',
    stateMutability: 'view',
    inputs: [{ name: 'channelId', type: 'bytes32' }],
    outputs: [{ name: '', type: 'tuple', components: stateComponents }],
  },
  {
    type: 'function',
    name: 'getChannelStatesBatch',
    stateMutability: 'view',
    inputs: [{ name: 'channelIds', type: 'bytes32[]' }],
    outputs: [{ name: '', type: 'tuple[]', components: stateComponents }],
  },
  {
    type: 'function',
    name: 'computeChannelId',
    stateMutability: 'view',
    inputs: [
      { name: 'payer', type: 'address' },
      { name: 'payee', type: 'address' },
      { name: 'operator', type: 'address' },
      { name: 'token', type: 'address' },
      { name: 'salt', type: 'bytes32' },
      { name: 'authorizedSigner', type: 'address' },
      { name: 'expiringNonceHash', type: 'bytes32' },
    ],
    outputs: [{ name: '', type: 'bytes32' }],
  },
  {
    type: 'function',
    name: 'getVoucherDigest',
    stateMutability: 'view',
    inputs: [
      { name: 'channelId', type: 'bytes32' },
      { name: 'cumulativeAmount', type: 'uint96' },
    ],
    outputs: [{ name: '', type: 'bytes32' }],
  },
  {
    type: 'function',
    name: 'domainSeparator',
    stateMutability: 'view',
    inputs: [],
    outputs: [{ name: '', type: 'bytes32' }],
  },
  {
    type: 'event',
    name: 'ChannelOpened',
    anonymous: false,
    inputs: [
      ...indexedParties,
      { name: 'operator', type: 'address', indexed: false },
      { name: 'token', type: 'address', indexed: false },
      { name: 'authorizedSigner', type: 'address', indexed: false },
      { name: 'salt', type: 'bytes32', indexed: false },
      { name: 'expiringNonceHash', type: 'bytes32', indexed: false },
      { name: 'deposit', type: 'uint96', indexed: false },
    ],
  },
  {
    type: 'event',
    name: 'Settled',
    anonymous: false,
    inputs: [
      ...indexedParties,
      { name: 'cumulativeAmount', type: 'uint96', indexed: false },
      { name: 'deltaPaid', type: 'uint96', indexed: false },
      { name: 'newSettled', type: 'uint96', indexed: false },
    ],
  },
  {
    type: 'event',
    name: 'TopUp',
    anonymous: false,
    inputs: [
      ...indexedParties,
      { name: 'additionalDeposit', type: 'uint96', indexed: false },
      { name: 'newDeposit', type: 'uint96', indexed: false },
    ],
  },
  {
    type: 'event',
    name: 'CloseRequested',
    anonymous: false,
    inputs: [...indexedParties, { name: 'closeGraceEnd', type: 'uint256', indexed: false }],
  },
  {
    type: 'event',
    name: 'ChannelClosed',
    anonymous: false,
    inputs: [
      ...indexedParties,
      { name: 'settledToPayee', type: 'uint96', indexed: false },
      { name: 'refundedToPayer', type: 'uint96', indexed: false },
    ],
  },
  { type: 'event', name: 'CloseRequestCancelled', anonymous: false, inputs: [...indexedParties] },
  error('ChannelAlreadyExists'),
  error('ChannelNotFound'),
  error('NotPayer'),
  error('NotPayeeOrOperator'),
  error('InvalidPayee'),
  error('InvalidToken'),
  error('ZeroDeposit'),
  error('ExpiringNonceHashNotSet'),
  error('InvalidSignature'),
  error('AmountExceedsDeposit'),
  error('AmountNotIncreasing'),
  error('CaptureAmountInvalid'),
  error('CloseNotReady'),
  error('DepositOverflow'),
] as const

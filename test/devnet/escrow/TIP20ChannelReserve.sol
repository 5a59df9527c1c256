// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title TIP20ChannelReserve (devnet stand-in)
/// @notice A Solidity implementation of the TIP-1034 channel reserve for local Tempo devnets, which
///         lack the precompile. It exposes the precompile's exact ABI (selectors, events, errors),
///         its channel-id formula, its EIP-712 voucher domain and its packed one-slot state, so real
///         MPP clients and servers cannot tell the difference on the paths they use.
///
/// Two things differ from the precompile, both forced by running as ordinary EVM code:
///  1. Reserve movement. The precompile moves TIP-20 funds natively (`systemTransferFrom`); this
///     contract pulls deposits with `transferFrom`, so every payer approves the escrow once. The
///     devnet harness does that approval when it funds a payer.
///  2. `expiringNonceHash`. The precompile derives it from the enclosing transaction's signing
///     payload and sender, which EVM code cannot see. The devnet RPC proxy computes it for every
///     `open` transaction and writes it into `EXPIRING_NONCE_HASH_SLOT` (anvil_setStorageAt) just
///     before the transaction is mined; `open` reads it from there.
///
/// Voucher signatures go through the TIP-1020 signature verifier precompile, as in the real escrow,
/// so the accepted encodings (secp256k1 low-s, P256, WebAuthn; no keychain wrappers) are the node's.
contract TIP20ChannelReserve {
    struct ChannelDescriptor {
        address payer;
        address payee;
        address operator;
        address token;
        bytes32 salt;
        address authorizedSigner;
        bytes32 expiringNonceHash;
    }

    struct ChannelState {
        uint96 settled;
        uint96 deposit;
        uint32 closeRequestedAt;
    }

    struct Channel {
        ChannelDescriptor descriptor;
        ChannelState state;
    }

    uint64 public constant CLOSE_GRACE_PERIOD = 900;
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(bytes32 channelId,uint96 cumulativeAmount)");

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("TIP20 Channel Reserve");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// Storage slot the devnet RPC proxy fills with the open transaction's expiring nonce hash.
    bytes32 public constant EXPIRING_NONCE_HASH_SLOT =
        keccak256("mpp-gateway.devnet.escrow.expiringNonceHash");
    /// Prefix of transient keys marking channels opened in the current transaction.
    bytes32 private constant OPENED_THIS_TX_TAG = keccak256("mpp-gateway.devnet.escrow.openedThisTx");

    address private constant SIGNATURE_VERIFIER = 0x5165300000000000000000000000000000000000;
    uint160 private constant TIP20_PREFIX = 0x20c000000000000000000000;

    /// Packed `ChannelState` per channel id: settled bits 0..95, deposit 96..191,
    /// closeRequestedAt 192..223, the rest zero. A zero deposit means "no channel".
    mapping(bytes32 channelId => uint256 packed) private states;

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        address operator,
        address token,
        address authorizedSigner,
        bytes32 salt,
        bytes32 expiringNonceHash,
        uint96 deposit
    );
    event Settled(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint96 cumulativeAmount,
        uint96 deltaPaid,
        uint96 newSettled
    );
    event TopUp(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint96 additionalDeposit,
        uint96 newDeposit
    );
    event CloseRequested(
        bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 closeGraceEnd
    );
    event ChannelClosed(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint96 settledToPayee,
        uint96 refundedToPayer
    );
    event CloseRequestCancelled(bytes32 indexed channelId, address indexed payer, address indexed payee);

    error ChannelAlreadyExists();
    error ChannelNotFound();
    error NotPayer();
    error NotPayeeOrOperator();
    error InvalidPayee();
    error InvalidToken();
    error ZeroDeposit();
    error ExpiringNonceHashNotSet();
    error InvalidSignature();
    error AmountExceedsDeposit();
    error AmountNotIncreasing();
    error CaptureAmountInvalid();
    error CloseNotReady();
    error DepositOverflow();

    function open(
        address payee,
        address operator,
        address token,
        uint96 deposit,
        bytes32 salt,
        address authorizedSigner
    ) external returns (bytes32 channelId) {
        if (payee == address(0) || isTip20(payee)) revert InvalidPayee();
        if (!isTip20(token)) revert InvalidToken();
        if (deposit == 0) revert ZeroDeposit();

        bytes32 nonceHash;
        bytes32 slot = EXPIRING_NONCE_HASH_SLOT;
        assembly {
            nonceHash := sload(slot)
        }
        if (nonceHash == bytes32(0)) revert ExpiringNonceHashNotSet();

        channelId = channelIdOf(msg.sender, payee, operator, token, salt, authorizedSigner, nonceHash);
        if (states[channelId] != 0 || openedThisTx(channelId)) revert ChannelAlreadyExists();

        pull(token, msg.sender, deposit);
        states[channelId] = pack(0, deposit, 0);
        markOpenedThisTx(channelId);

        emit ChannelOpened(
            channelId, msg.sender, payee, operator, token, authorizedSigner, salt, nonceHash, deposit
        );
    }

    function settle(ChannelDescriptor calldata descriptor, uint96 cumulativeAmount, bytes calldata signature)
        external
    {
        bytes32 channelId = idOf(descriptor);
        (uint96 settled, uint96 deposit, uint32 closeRequestedAt) = load(channelId);
        requirePayeeOrOperator(descriptor);
        if (cumulativeAmount > deposit) revert AmountExceedsDeposit();
        if (cumulativeAmount <= settled) revert AmountNotIncreasing();
        requireVoucher(descriptor, channelId, cumulativeAmount, signature);

        uint96 delta = cumulativeAmount - settled;
        states[channelId] = pack(cumulativeAmount, deposit, closeRequestedAt);
        push(descriptor.token, descriptor.payee, delta);

        emit Settled(channelId, descriptor.payer, descriptor.payee, cumulativeAmount, delta, cumulativeAmount);
    }

    function topUp(ChannelDescriptor calldata descriptor, uint96 additionalDeposit) external {
        bytes32 channelId = idOf(descriptor);
        (uint96 settled, uint96 deposit, uint32 closeRequestedAt) = load(channelId);
        if (msg.sender != descriptor.payer) revert NotPayer();
        if (additionalDeposit == 0 && closeRequestedAt == 0) return;

        uint96 newDeposit = deposit;
        if (additionalDeposit != 0) {
            if (uint256(deposit) + additionalDeposit > type(uint96).max) revert DepositOverflow();
            newDeposit = deposit + additionalDeposit;
            pull(descriptor.token, msg.sender, additionalDeposit);
        }
        states[channelId] = pack(settled, newDeposit, 0);

        if (closeRequestedAt != 0) {
            emit CloseRequestCancelled(channelId, descriptor.payer, descriptor.payee);
        }
        emit TopUp(channelId, descriptor.payer, descriptor.payee, additionalDeposit, newDeposit);
    }

    function requestClose(ChannelDescriptor calldata descriptor) external {
        bytes32 channelId = idOf(descriptor);
        (uint96 settled, uint96 deposit, uint32 closeRequestedAt) = load(channelId);
        if (msg.sender != descriptor.payer) revert NotPayer();
        if (closeRequestedAt != 0) return;

        states[channelId] = pack(settled, deposit, uint32(block.timestamp));
        emit CloseRequested(
            channelId, descriptor.payer, descriptor.payee, block.timestamp + CLOSE_GRACE_PERIOD
        );
    }

    function close(
        ChannelDescriptor calldata descriptor,
        uint96 cumulativeAmount,
        uint96 captureAmount,
        bytes calldata signature
    ) external {
        bytes32 channelId = idOf(descriptor);
        (uint96 settled, uint96 deposit,) = load(channelId);
        requirePayeeOrOperator(descriptor);
        if (captureAmount < settled || captureAmount > cumulativeAmount) revert CaptureAmountInvalid();
        if (captureAmount > deposit) revert AmountExceedsDeposit();
        if (captureAmount > settled) {
            requireVoucher(descriptor, channelId, cumulativeAmount, signature);
        }

        uint96 delta = captureAmount - settled;
        uint96 refund = deposit - captureAmount;
        delete states[channelId];
        if (delta != 0) push(descriptor.token, descriptor.payee, delta);
        if (refund != 0) push(descriptor.token, descriptor.payer, refund);

        emit ChannelClosed(channelId, descriptor.payer, descriptor.payee, captureAmount, refund);
    }

    function withdraw(ChannelDescriptor calldata descriptor) external {
        bytes32 channelId = idOf(descriptor);
        (uint96 settled, uint96 deposit, uint32 closeRequestedAt) = load(channelId);
        if (msg.sender != descriptor.payer) revert NotPayer();
        if (closeRequestedAt == 0 || block.timestamp < uint256(closeRequestedAt) + CLOSE_GRACE_PERIOD) {
            revert CloseNotReady();
        }

        uint96 refund = deposit - settled;
        delete states[channelId];
        if (refund != 0) push(descriptor.token, descriptor.payer, refund);

        emit ChannelClosed(channelId, descriptor.payer, descriptor.payee, settled, refund);
    }

    function getChannel(ChannelDescriptor calldata descriptor) external view returns (Channel memory) {
        return Channel({descriptor: descriptor, state: stateOf(idOf(descriptor))});
    }

    function getChannelState(bytes32 channelId) external view returns (ChannelState memory) {
        return stateOf(channelId);
    }

    function getChannelStatesBatch(bytes32[] calldata channelIds)
        external
        view
        returns (ChannelState[] memory result)
    {
        result = new ChannelState[](channelIds.length);
        for (uint256 i = 0; i < channelIds.length; i++) {
            result[i] = stateOf(channelIds[i]);
        }
    }

    function computeChannelId(
        address payer,
        address payee,
        address operator,
        address token,
        bytes32 salt,
        address authorizedSigner,
        bytes32 expiringNonceHash
    ) external view returns (bytes32) {
        return channelIdOf(payer, payee, operator, token, salt, authorizedSigner, expiringNonceHash);
    }

    function getVoucherDigest(bytes32 channelId, uint96 cumulativeAmount) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount));
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function channelIdOf(
        address payer,
        address payee,
        address operator,
        address token,
        bytes32 salt,
        address authorizedSigner,
        bytes32 expiringNonceHash
    ) private view returns (bytes32) {
        return keccak256(
            abi.encode(
                payer, payee, operator, token, salt, authorizedSigner, expiringNonceHash, address(this), block.chainid
            )
        );
    }

    function idOf(ChannelDescriptor calldata d) private view returns (bytes32) {
        return channelIdOf(d.payer, d.payee, d.operator, d.token, d.salt, d.authorizedSigner, d.expiringNonceHash);
    }

    function load(bytes32 channelId) private view returns (uint96 settled, uint96 deposit, uint32 closeRequestedAt) {
        uint256 packed = states[channelId];
        settled = uint96(packed);
        deposit = uint96(packed >> 96);
        closeRequestedAt = uint32(packed >> 192);
        if (deposit == 0) revert ChannelNotFound();
    }

    function stateOf(bytes32 channelId) private view returns (ChannelState memory) {
        uint256 packed = states[channelId];
        return ChannelState(uint96(packed), uint96(packed >> 96), uint32(packed >> 192));
    }

    function pack(uint96 settled, uint96 deposit, uint32 closeRequestedAt) private pure returns (uint256) {
        return uint256(settled) | (uint256(deposit) << 96) | (uint256(closeRequestedAt) << 192);
    }

    function requirePayeeOrOperator(ChannelDescriptor calldata d) private view {
        if (msg.sender != d.payee && (d.operator == address(0) || msg.sender != d.operator)) {
            revert NotPayeeOrOperator();
        }
    }

    /// Recovers the voucher signer through the TIP-1020 verifier and compares it with the
    /// descriptor's signer (`authorizedSigner`, or the payer when that is zero).
    function requireVoucher(
        ChannelDescriptor calldata d,
        bytes32 channelId,
        uint96 cumulativeAmount,
        bytes calldata signature
    ) private view {
        bytes32 digest = getVoucherDigest(channelId, cumulativeAmount);
        (bool ok, bytes memory out) = SIGNATURE_VERIFIER.staticcall(
            abi.encodeWithSignature("recover(bytes32,bytes)", digest, signature)
        );
        if (!ok || out.length != 32) revert InvalidSignature();
        address signer = abi.decode(out, (address));
        address expected = d.authorizedSigner == address(0) ? d.payer : d.authorizedSigner;
        if (signer == address(0) || signer != expected) revert InvalidSignature();
    }

    function isTip20(address a) private pure returns (bool) {
        return uint160(a) >> 64 == TIP20_PREFIX;
    }

    function openedThisTx(bytes32 channelId) private view returns (bool opened) {
        bytes32 key = keccak256(abi.encode(OPENED_THIS_TX_TAG, channelId));
        assembly {
            opened := tload(key)
        }
    }

    function markOpenedThisTx(bytes32 channelId) private {
        bytes32 key = keccak256(abi.encode(OPENED_THIS_TX_TAG, channelId));
        assembly {
            tstore(key, 1)
        }
    }

    /// Pulls `amount` of `token` from `from` into the reserve. The precompile does this natively;
    /// here it needs the payer's prior `approve` of this contract.
    function pull(address token, address from, uint96 amount) private {
        callToken(token, abi.encodeWithSignature("transferFrom(address,address,uint256)", from, address(this), amount));
    }

    function push(address token, address to, uint96 amount) private {
        callToken(token, abi.encodeWithSignature("transfer(address,uint256)", to, amount));
    }

    /// Calls a TIP-20 token and bubbles its revert data up unchanged, so a failed transfer reports
    /// the token's own error (insufficient balance, allowance, policy).
    function callToken(address token, bytes memory data) private {
        (bool ok, bytes memory out) = token.call(data);
        if (!ok) {
            assembly {
                revert(add(out, 32), mload(out))
            }
        }
        if (out.length != 0 && !abi.decode(out, (bool))) revert InvalidToken();
    }
}
